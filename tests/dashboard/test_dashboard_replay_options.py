"""`dralloc dashboard --replay` with the options that shape the run as `dralloc simulate`
takes them: `--node-events` (nodes leaving are not drawn), `--autoscaling` (the fleet's nodes
are drawn instead of the trace's), `--autoscaling-objects`, each refused with simulate's
message, exit 2; and a queued run's ClusterQueues drawn with the admission's usage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.dashboard_replay import replay_spec
from dralloc.cli.main import app
from dralloc.dashboard.replayed import _scheduling, replayed_state
from dralloc.errors import InputError
from dralloc.sim.campaign import RunSpec, prepare_replay
from dralloc.sim.openb_objects import NAMESPACE
from dralloc.sim.queue_replay import KueueAdmission
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.replay.cluster import ReplayCluster
from dralloc.sim.replay.results import AdmissionCluster, PodState

# Two 2-GPU L4 nodes, 16 pods arriving about every 100 s, running about 15 min.
L4 = "synthetic:pods=16,rate=0.01,median=900,sigma=0.5,multi=0,models=l4,nodes=2,gpus=2,seed=3"
QUEUED = "synthetic-jobs:jobs=30,tenants=2,quotas=16,rate=0.1,median=3600,seed=1,nodes=2"
FLEET = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
shapes:
- name: l4x2
  shape: l4
  gpus: 2
  sharing: fractional
  price: {onDemand: 2.0}
  provisioning: {launch: "fixed:60", register: "fixed:30", ready: "fixed:30", devices: "fixed:60"}
nodeGroups:
- {name: l4x2, shape: l4x2, max: 4}
"""


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _nodes(spec: RunSpec, at: float) -> list[str]:
    return [n["name"] for n in replayed_state(spec, at=at).document["nodes"]]


def test_a_node_removed_by_node_events_is_not_drawn(tmp_path: Path) -> None:
    events = _write(tmp_path, "events.csv", "time,action,node\n100,remove,syn-node-001\n")
    spec = replay_spec(L4, "fgd", 1, node_events=events)
    assert spec.node_events and _nodes(spec, 600.0) == ["syn-node-000"]
    assert _nodes(replay_spec(L4, "fgd", 1), 600.0) == ["syn-node-000", "syn-node-001"]


def test_an_autoscaled_replay_draws_the_fleets_nodes(tmp_path: Path) -> None:
    fleet = _write(tmp_path, "fleet.yaml", FLEET)
    state = replayed_state(replay_spec(L4, "fgd", 1, autoscaling=fleet), at=600.0)
    nodes = [n["name"] for n in state.document["nodes"]]
    assert nodes and all(name.startswith("l4x2-") for name in nodes)
    running = {f"{NAMESPACE}/{p.name}" for p in state.result.pods if p.state is PodState.RUNNING}
    drawn = {pod for n in state.document["nodes"] for pod in n["pods"]}
    assert running and drawn == running
    assert state.result.autoscaling is not None
    assert state.document["notes"][-1].startswith(f"autoscaled fleet ({fleet}): its nodes")


def _refused(args: Sequence[str]) -> tuple[int, str]:
    serve = ["dashboard", "--address", "127.0.0.1:0", "--for", "0.01", "--replay", L4]
    result = CliRunner().invoke(app, [*serve, *args])
    if isinstance(result.exception, InputError):
        return 2, str(result.exception)  # `dralloc`'s entry point prints it and exits 2
    return result.exit_code, result.stderr


def test_the_options_are_refused_with_simulates_messages(tmp_path: Path) -> None:
    bad_events = _write(tmp_path, "bad.csv", "time,action,node\n100,explode,syn-node-001\n")
    unknown = _write(tmp_path, "unknown.csv", "time,action,node\n100,remove,nosuch\n")
    bad_fleet = _write(tmp_path, "fleet.yaml", FLEET.replace("max: 4", "max: -1"))
    objects = _write(tmp_path, "objects.yaml", "")
    assert _refused(["--node-events", bad_events]) == (
        2,
        f"{bad_events}: line 2: action: unknown action 'explode', expected add or remove",
    )
    assert _refused(["--node-events", unknown]) == (
        2,
        f"{unknown}: line 2: node: no node 'nosuch' in {L4} (2 nodes, syn-node-000 to "
        "syn-node-001)",
    )
    code, message = _refused(["--autoscaling", bad_fleet])
    assert code == 2 and message.startswith(f"{bad_fleet}: Autoscaling: nodeGroups"), message
    assert _refused(["--autoscaling-objects", objects]) == (
        2,
        "--autoscaling-objects: needs --autoscaling (the fleet they act on)",
    )
    # Each of them applies to --replay only.
    stray = CliRunner().invoke(
        app, ["dashboard", "-f", "x.yaml", "--node-events", bad_events, "--autoscaling", "f"]
    )
    assert (stray.exit_code, stray.stderr) == (
        2,
        "--node-events, --autoscaling: apply to --replay only\n",
    )


class _Watch:
    """The engine's cluster as the admission sees it: which pods are in the scheduling queue."""

    def __init__(self, inner: KueueAdmission) -> None:
        self.inner = inner
        self.cluster: AdmissionCluster | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def admit(self, now: float, cluster: AdmissionCluster) -> None:
        self.cluster = cluster
        self.inner.admit(now, cluster)


@pytest.mark.parametrize("at", [300.0, 900.0])
def test_the_pods_of_admitted_jobs_are_those_in_the_scheduling_queue(at: float) -> None:
    prepared = prepare_replay(RunSpec(QUEUED, "fgd", 1, queues="besteffortfifo"))
    admission = prepared.admission()
    assert admission is not None
    watch = _Watch(admission)
    result = replay(
        prepared.trace,
        "fgd",
        1,
        ReplayOptions(horizon=at),
        gangs=prepared.gangs,
        admission=watch,  # type: ignore[arg-type]  # a KueueAdmission by delegation
    )
    assert isinstance(watch.cluster, ReplayCluster)
    waiting = frozenset(watch.cluster.waiting)
    assert waiting and _scheduling(admission, result) == waiting


def test_a_queued_replay_draws_its_cluster_queues_usage_against_quota() -> None:
    state = replayed_state(RunSpec(QUEUED, "fgd", 1, queues="besteffortfifo"), at=300.0)
    queues = state.document["queues"]
    assert len(queues) == 2
    used = {
        q["name"]: r
        for q in queues
        for r in q["flavors"][0]["resources"]
        if r["name"] == "nvidia.com/gpu"
    }
    assert all(r["nominalValue"] == 16 for r in used.values())
    # The GPUs of the pods of admitted jobs (placed or waiting for a node) are the usage.
    pending = {p["pod"] for p in state.document["pending"] if p["queue"] == "admission"}
    gpus = sum(
        p.gpu_milli
        for p in state.result.pods
        if p.state in (PodState.RUNNING, PodState.PENDING)
        and f"{NAMESPACE}/{p.name}" not in pending
    )
    assert sum(r["usedValue"] for r in used.values()) == gpus / 1000
    assert sum(q["admittedWorkloads"] for q in queues) > 0
    assert sum(q["pendingWorkloads"] for q in queues) > 0
