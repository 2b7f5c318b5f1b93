"""`sim.shards`: shard K of N takes every N-th run, a shard folder reads back bit for bit, and
merging refuses folders that do not make one whole campaign, naming the folder."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dralloc.errors import InputError
from dralloc.sim.campaign import RunCurves, RunSpec
from dralloc.sim.experiment import NodeUsage
from dralloc.sim.provenance import TraceFile, TraceSource
from dralloc.sim.shards import (
    Shard,
    ShardManifest,
    campaign_digest,
    merge_shards,
    parse_shard,
    write_shard,
)

SPECS = tuple(
    RunSpec("openb:default", policy, seed) for policy in ("fgd", "random") for seed in (1, 2, 3)
)
TRACES = (TraceSource("openb:default", (TraceFile("pods.csv", "ab" * 32),)),)
PRICES = {"A100": 3.93}


def _run(spec: RunSpec) -> RunCurves:
    # Values a text format would round or drop: NaN, infinities, the last bits of a float.
    return RunCurves(
        spec=spec,
        total_gpus=8,
        pods=12,
        scheduled=11,
        allocation=(0.1 + 0.2, None, math.inf, 1 / 3),
        fragmentation=(math.nan, -math.inf, 5e-324, None),
        final_nodes=(NodeUsage("n-0", "A100", 750, 8000),),
        unallocated_at_100={"A100": 2.5},
        catalog={"A100": "a100-80gb"},
    )


def _write(
    root: Path,
    shard: Shard,
    *,
    specs: tuple[RunSpec, ...] = SPECS,
    prices: dict[str, float] = PRICES,
) -> Path:
    directory = root / f"shard-{shard.index}-of-{shard.count}"
    manifest = ShardManifest(
        campaign=campaign_digest("fgd", specs, prices, TRACES, "1.0"),
        mode="fgd",
        version="1.0",
        shard=shard.index,
        shards=shard.count,
        runs=tuple(shard.indices(len(specs))),
        specs=specs,
        prices=prices,
        traces=TRACES,
        seeds=(1, 2, 3),
        command=("dralloc", "simulate", "--seeds", "1-3"),
    )
    write_shard(directory, manifest, [_run(spec) for spec in shard.select(specs)])
    return directory


def test_shard_k_of_n_takes_every_nth_run_and_the_shards_cover_the_campaign_once() -> None:
    assert Shard(2, 3).indices(8) == [1, 4, 7]
    for count in range(1, 9):
        taken = sorted(i for k in range(1, count + 1) for i in Shard(k, count).indices(6))
        assert taken == list(range(6))
    assert Shard(7, 8).select(SPECS) == []  # more shards than runs: an empty shard


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/4", "'0/4': K must be between 1 and N (4), got 0"),
        ("5/4", "'5/4': K must be between 1 and N (4), got 5"),
        ("x", "'x' is not K/N (shard K of N, e.g. 1/4)"),
        ("1/0", "'1/0': N must be at least 1, got 0"),
        ("1/-2", "'1/-2': N must be at least 1, got -2"),
    ],
)
def test_a_bad_shard_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_shard(text)
    assert parse_shard(" 3/4 ") == Shard(3, 4)


def test_merged_shards_give_back_every_run_bit_for_bit_in_campaign_order(tmp_path: Path) -> None:
    folders = [_write(tmp_path, Shard(k, 4)) for k in (3, 1, 4, 2)]
    merged = merge_shards(folders)
    assert [run.spec for run in merged.runs] == list(SPECS)
    assert merged.mode == "fgd" and merged.prices == PRICES and merged.traces == TRACES
    for run in merged.runs:
        assert isinstance(run, RunCurves)
        want = _run(run.spec)
        assert run.final_nodes == want.final_nodes and run.catalog == want.catalog
        got = [*run.allocation, *run.fragmentation]
        expected = [*want.allocation, *want.fragmentation]
        # repr tells NaN, -0.0 and each bit of a float apart, as == cannot for NaN.
        assert [repr(v) for v in got] == [repr(v) for v in expected]


def test_merge_refuses_a_missing_shard_a_shard_twice_and_another_campaign(
    tmp_path: Path,
) -> None:
    one, two = _write(tmp_path, Shard(1, 3)), _write(tmp_path, Shard(2, 3))
    with pytest.raises(InputError) as missing:
        merge_shards([one, two])
    assert str(missing.value) == f"{one}: shard 3/3 of this campaign not given"

    with pytest.raises(InputError) as twice:
        merge_shards([one, two, one])
    assert str(twice.value) == f"{one}: shard 1/3 again (also in {one})"

    other = _write(tmp_path / "other", Shard(3, 3), prices={"A100": 1.0})
    with pytest.raises(InputError) as foreign:
        merge_shards([one, two, other])
    assert str(foreign.value) == (
        f"{other}: shard 3/3 is of another campaign than {one}'s (they differ in: prices)"
    )


def test_merge_refuses_a_folder_that_is_no_finished_shard(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "shard.json").write_text("{}")
    with pytest.raises(InputError) as err:
        merge_shards([tmp_path / "empty", tmp_path / "broken"])
    lines = str(err.value).splitlines()
    assert lines[0].startswith(f"{tmp_path / 'broken' / 'shard.json'}: not a shard manifest: ")
    assert lines[1] == (
        f"{tmp_path / 'empty'}: holds no shard.json: not a shard folder, or the shard did not "
        "finish"
    )


def test_merge_refuses_a_shard_whose_run_file_is_gone(tmp_path: Path) -> None:
    folder = _write(tmp_path, Shard(1, 1))
    (folder / "run-00002.msgpack").unlink()
    with pytest.raises(InputError, match=r": cannot read run 2: No such file or directory$"):
        merge_shards([folder])
