"""A shard folder is never overwritten by another command: a plain run or a merge whose
--out holds a shard, a merge writing into one of its inputs, a --shard run into a folder of
CSVs or of another shard all exit 2 with the folder as it was; the same K/N of the same
campaign runs again in place (a Job's retry). Shards agree on their campaign by the bytes of
their files, not by the paths typed, and a disagreement names the field that differs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.errors import InputError
from dralloc.sim.campaign import RunSpec
from dralloc.sim.provenance import TraceFile, TraceSource
from dralloc.sim.shards import ShardManifest, campaign_digest, merge_shards, write_shard

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,131072,2,T4\nn-1,64000,262144,8,G2\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
SHAPES = [(4000, 1, 500, ""), (8000, 1, 1000, ""), (2000, 0, 0, "")]


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An FGD campaign of two runs over a tiny openb trace in `tmp_path/openb` (the cwd)."""
    directory = tmp_path / "openb"
    directory.mkdir()
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    rows = [
        f"p-{i:03d},{cpu},4096,{gpus},{milli},{spec},LS,Running,0,10,0"
        for i, (cpu, gpus, milli, spec) in enumerate(SHAPES * 2)
    ]
    (directory / "openb_pod_list_default.csv").write_text(POD_HEADER + "\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    return ["simulate", "--policy", "fgd,random", "--seeds", "1", "--jobs", "1"]


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _campaign_of(folder: Path) -> str:
    text = (folder / "shard.json").read_text()
    return text.split('"campaign": "', 1)[1][:12]


def test_a_merge_or_run_never_writes_over_a_shard(campaign: list[str], tmp_path: Path) -> None:
    for k in (1, 2):
        code, said = _invoke(
            *campaign, "--trace-dir", "openb", "--shard", f"{k}/2", "--out", f"s{k}"
        )
        assert code == 0, said
    kept = {k: _snapshot(tmp_path / f"s{k}") for k in (1, 2)}
    digest = _campaign_of(tmp_path / "s2")

    code, said = _invoke("simulate", "merge", "s1", "s2", "--out", "./s2/")
    assert code == 2
    assert said == "--out s2: is the shard folder s2 the merge reads; choose another folder\n"

    (tmp_path / "s3").mkdir()
    for name, data in kept[2].items():
        (tmp_path / "s3" / name).write_bytes(data)
    expected = (
        f"--out s3: holds shard 2/2 of campaign {digest} (shard.json); writing the campaign's "
        "files here would replace it: choose another folder\n"
    )
    assert _invoke("simulate", "merge", "s1", "s2", "--out", "s3") == (2, expected)
    assert _invoke(*campaign, "--trace-dir", "openb", "--out", "s3") == (2, expected)
    assert {k: _snapshot(tmp_path / f"s{k}") for k in (1, 2)} == kept
    assert _snapshot(tmp_path / "s3") == kept[2]


def test_a_shard_reruns_in_its_own_folder_only(campaign: list[str], tmp_path: Path) -> None:
    base = [*campaign, "--trace-dir", "openb"]
    assert _invoke(*base, "--shard", "1/2", "--out", "s1")[0] == 0
    kept = _snapshot(tmp_path / "s1")
    digest = _campaign_of(tmp_path / "s1")

    # A Job's retry: the same shard of the same campaign, again in place.
    assert _invoke(*base, "--shard", "1/2", "--out", "s1")[0] == 0

    code, said = _invoke(*base, "--shard", "2/2", "--out", "s1")
    assert code == 2
    assert said.startswith(f"--out s1: holds another shard, 1/2 of campaign {digest}; ")
    code, said = _invoke(
        *campaign, "--trace-dir", "openb", "--seeds", "2", "--shard", "1/2", "--out", "s1"
    )
    assert code == 2
    assert said.startswith(f"--out s1: holds another campaign's shard, 1/2 of campaign {digest}; ")
    assert said.endswith(": choose another folder\n")
    assert set(_snapshot(tmp_path / "s1")) == set(kept)

    (tmp_path / "plain").mkdir()  # what an earlier plain run left
    for name in ("allocation.csv", "fragmentation.csv", "plotly.min.js", "report.html"):
        (tmp_path / "plain" / name).write_text("x\n")
    plain = _snapshot(tmp_path / "plain")
    code, said = _invoke(*base, "--shard", "1/2", "--out", "plain")
    assert code == 2
    assert said == (
        "--out plain: holds a campaign's files (allocation.csv, fragmentation.csv, "
        "plotly.min.js, ...); --shard 1/2 writes a folder of its own: choose a new or empty one\n"
    )
    assert _snapshot(tmp_path / "plain") == plain


def test_shards_are_one_campaign_by_file_content_not_path(
    campaign: list[str], tmp_path: Path
) -> None:
    code, said = _invoke(*campaign, "--trace-dir", "openb", "--shard", "1/2", "--out", "s1")
    assert code == 0, said
    absolute = str(tmp_path / "openb")
    code, said = _invoke(*campaign, "--trace-dir", absolute, "--shard", "2/2", "--out", "s2")
    assert code == 0, said
    assert _campaign_of(tmp_path / "s1") == _campaign_of(tmp_path / "s2")
    assert _invoke("simulate", "merge", "s1", "s2", "--out", "merged")[0] == 0

    # Another copy of the trace with one byte changed is another campaign.
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (tmp_path / "openb").iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "openb_node_list_gpu_node.csv").write_text(NODES.replace("32000", "32001"))
    other = [*campaign, "--trace-dir", "copy", "--shard", "2/2", "--out", "c2"]
    assert _invoke(*other)[0] == 0
    code, said = _invoke("simulate", "merge", "s1", "c2", "--out", "merged")
    assert code == 2
    assert said.endswith("(they differ in: trace files (SHA-256))\n")

    policies = ["simulate", "--policy", "fgd,bestfit", "--seeds", "1", "--jobs", "1"]
    assert _invoke(*policies, "--trace-dir", "openb", "--shard", "2/2", "--out", "p2")[0] == 0
    code, said = _invoke("simulate", "merge", "s1", "p2", "--out", "merged")
    assert code == 2
    assert said == (
        "p2: shard 2/2 is of another campaign than s1's (they differ in: policies (--policy))\n"
    )


def _manifest(spec: RunSpec, autoscaling_sha: str = "a" * 64) -> ShardManifest:
    traces = (
        TraceSource(spec.workload),
        TraceSource(
            f"--autoscaling {spec.autoscaling}", (TraceFile(spec.autoscaling, autoscaling_sha),)
        ),
    )
    specs = (spec,)
    return ShardManifest(
        campaign=campaign_digest("replay", specs, {}, traces, "0.1.0"),
        mode="replay",
        version="0.1.0",
        shard=2,
        shards=2,
        runs=(),
        specs=specs,
        prices={},
        traces=traces,
        seeds=(spec.seed,),
        command=(),
    )


def test_the_autoscaling_file_counts_by_its_bytes_and_a_refusal_names_the_seeds(
    tmp_path: Path,
) -> None:
    spec = RunSpec("synthetic:pods=10", "fgd", 1, autoscaling="./ca.yaml")
    here = _manifest(spec)
    there = _manifest(dataclasses.replace(spec, autoscaling="/mnt/config/ca.yaml"))
    assert here.campaign == there.campaign
    assert _manifest(spec, "b" * 64).campaign != here.campaign

    write_shard(tmp_path / "a", here, [])
    write_shard(tmp_path / "b", _manifest(dataclasses.replace(spec, seed=2)), [])
    with pytest.raises(InputError) as refused:
        merge_shards([tmp_path / "a", tmp_path / "b"])
    assert str(refused.value) == (
        f"{tmp_path / 'b'}: shard 2/2 is of another campaign than {tmp_path / 'a'}'s "
        "(they differ in: seeds (--seeds))"
    )
