"""The dashboard over the FGD experiment's final cluster (`dralloc dashboard --fgd TRACE`): the
run's own cache drawn, the pods it dropped pending and weighed by the fragmentation tile."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.dashboard.experimented import experiment_state
from dralloc.errors import InputError
from dralloc.sim.experiment import run_fgd
from dralloc.sim.traces.resolve import resolve_arrival_trace

POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)


def _openb(folder: Path) -> str:
    """Three 3-GPU T4 nodes and whole-GPU pods, mostly of 2 GPUs (tuned to 130%: some drop)."""
    (folder / "openb_node_list_gpu_node.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n"
        + "".join(f"n-{i},32000,131072,3,T4\n" for i in range(3))
    )
    rows = [
        f"p-{i:03d},4000,4096,{gpus},1000,,LS,Running,0,10,0\n"
        for i, gpus in enumerate([2, 2, 1] * 2)
    ]
    (folder / "openb_pod_list_default.csv").write_text(POD_HEADER + "".join(rows))
    return str(folder)


def test_run_fgd_returns_the_cluster_it_leaves_and_the_pods_it_dropped(tmp_path: Path) -> None:
    trace = resolve_arrival_trace("openb:default", _openb(tmp_path))
    result = run_fgd(trace, "random", 1)
    assert result.cache is not None
    bound = {pod.key for info in result.cache.nodes.values() for pod in info.pods}
    dropped = {pod for pod, _ in result.unplaced}
    assert len(bound) == result.scheduled and len(dropped) == result.pods - result.scheduled
    assert dropped and not bound & dropped
    # A dropped pod's claim is not in the cache; every placed pod's claim is allocated.
    assert all(c.status.allocation is not None for c in result.cache.claims.values())
    assert all(claim is not None for _, claim in result.unplaced)
    cached = set(result.cache.claims)
    assert not {f"{c.metadata.namespace}/{c.metadata.name}" for _, c in result.unplaced if c} & (
        cached
    )


def test_the_fleet_is_the_runs_with_the_dropped_pods_pending_and_stranding_the_free_gpus(
    tmp_path: Path,
) -> None:
    folder = _openb(tmp_path)
    result = run_fgd(resolve_arrival_trace("openb:default", folder), "random", 1)
    state = experiment_state("openb:default", "random", 1, trace_dir=folder)
    document = state.document
    used = {n["name"]: sum(g["used"] for g in n["gpus"]) for n in document["nodes"]}
    assert used == {n.name: n.used_milli / 1000 for n in result.final_nodes}
    assert [p["pod"] for p in document["pending"]] == sorted(p for p, _ in result.unplaced)
    # One GPU free on each node, and the dropped pods ask for two: every free GPU is stranded.
    assert sorted(used.values()) == [2.0, 2.0, 2.0]
    assert document["summary"]["fragmentation"] == 1.0
    assert document["source"] == "fgd: openb:default, random, seed 1"
    pod = document["pending"][0]["pod"]
    explained = state.explain(pod)
    assert explained is not None and explained["message"].startswith("fitted no node")
    assert state.explain("default/p-000") is None


def test_the_command_serves_an_fgd_run_and_refuses_replay_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRALLOC_DASHBOARD_TOKEN", raising=False)
    serve = ["dashboard", "--address", "127.0.0.1:0", "--for", "0.01"]
    fgd = ["--fgd", "openb:default", "--trace-dir", _openb(tmp_path)]
    result = CliRunner().invoke(app, [*serve, *fgd, "--policy", "random", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "(3 nodes, 9 GPUs, 3 pods pending)" in result.stderr
    stray = CliRunner().invoke(app, [*serve, *fgd, "--at", "5", "--queues", "fair"])
    assert (stray.exit_code, stray.stderr) == (2, "--queues, --at: apply to --replay only\n")
    off = CliRunner().invoke(app, [*serve, "-f", "x.yaml", "--trace-dir", "d"])
    assert (off.exit_code, off.stderr) == (2, "--trace-dir: applies to --replay and --fgd only\n")
    bad = CliRunner().invoke(app, [*serve, "--fgd", "openb:default", "--policy", "tetris"])
    assert isinstance(bad.exception, InputError)
    assert str(bad.exception).startswith("--policy: unknown policy 'tetris' (known: random,")
    missing = CliRunner().invoke(app, [*serve, "--fgd", "nosuch"])
    assert isinstance(missing.exception, InputError)
    assert str(missing.exception).startswith("--fgd nosuch"), str(missing.exception)
