"""Every scheduler_perf case on a tiny cluster: the JSON contract, and that every pod got its
own template claim allocated with one device no other live claim holds (not timing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import scheduler_perf as bench

NODES = 3
STEADY_PODS = 25
CASE_NAMES = [
    "5000pods_500nodes",
    "empty_500nodes",
    "half_500nodes",
    "full_500nodes",
    "selector_empty_500nodes",
]


def test_case_names_are_upstream_s() -> None:
    assert list(bench.CASES) == CASE_NAMES


def test_json_prints_one_object_per_case_with_the_contract_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--json", "--nodes", str(NODES), "--pods", str(STEADY_PODS)]
    for name in ("5000pods_500nodes", "full_500nodes"):
        argv += ["--case", name]
    assert bench.main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["case"] for row in rows] == ["5000pods_500nodes", "full_500nodes"]
    assert [row["pods"] for row in rows] == [NODES * 5, STEADY_PODS]
    for row in rows:
        assert row["seconds"] >= 0
        assert row["pods_per_second"] > 0
    assert rows[1]["preallocated_claims"] == NODES * 10 - 10


@pytest.mark.parametrize(
    ("remember_verdicts", "percentage"), [(False, None), (True, None), (True, 100)]
)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_pod_gets_its_own_claim_with_one_free_device_on_its_node(
    name: str, remember_verdicts: bool, percentage: int | None
) -> None:
    result = bench.run(
        name, NODES, STEADY_PODS, remember_verdicts=remember_verdicts, percentage=percentage
    )
    case = bench.CASES[name]
    measured = result.placements[result.measured_from :]
    assert len(measured) == result.pods
    for placement in result.placements:
        ((driver, pool, _),) = placement.devices
        assert (driver, pool) == (bench.DRIVER, placement.node)
        namespace, claim_name = placement.claim.split("/")
        pod_name = placement.pod.split("/")[1]
        assert namespace in ("init", "test")
        assert claim_name.startswith(f"{pod_name}-resource-")  # made from the template
    held = [p.devices[0] for p in result.preallocated]
    assert len(set(held)) == len(held)
    if case.steady:
        # At most ten measured pods are alive at once; none may share a device with another
        # or with a pre-allocated claim.
        window = bench.STEADY_STATE_PODS
        for start in range(len(measured)):
            live = [p.devices[0] for p in measured[max(0, start - window + 1) : start + 1]]
            assert len(set(live)) == len(live)
            assert not set(live) & set(held)
    else:
        devices = [p.devices[0] for p in result.placements]
        assert len(devices) == NODES * bench.DEVICES_PER_NODE  # the cluster ends full
        assert len(set(devices)) == len(devices)


def test_full_case_leaves_exactly_the_steady_state_pods_room() -> None:
    result = bench.run("full_500nodes", NODES, STEADY_PODS)
    free = NODES * bench.DEVICES_PER_NODE - len(result.preallocated)
    assert free == bench.STEADY_STATE_PODS
    assert {p.devices[0] for p in result.placements[result.measured_from :]} <= {
        (bench.DRIVER, bench.node_name(n), f"instance-{d}")
        for n in range(NODES)
        for d in range(bench.DEVICES_PER_NODE)
    } - {p.devices[0] for p in result.preallocated}
