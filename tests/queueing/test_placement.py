"""The scheduler-backed placement check (`dralloc.controllers.queueplacement`) and admission that
knows placement (spec/queueing.md 8.1): a what-if that leaves the cluster cache as it was,
pods bound in the cache once admitted, and the property that, with placement on, no admitted
Workload is left with an unschedulable pod and no quota is exceeded."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queueing_helpers import NOW
from typer.testing import CliRunner

from dralloc.cli.inputs import read_cluster
from dralloc.cli.main import app
from dralloc.cli.queue import QueueRun, read_queue_input, run_queue
from dralloc.cli.schedule import plan_schedule
from dralloc.controllers.queueplacement import SchedulerPlacement
from dralloc.features import Features
from dralloc.queueing import FlavorResource
from dralloc.queueing.objects import Admission, PodSetAssignment
from dralloc.scheduler.config import SchedulerConfiguration

GPUS = "devices.dralloc.io/gpu.nvidia.com"


def cluster_file(directory: Path, nodes: str) -> None:
    result = CliRunner().invoke(
        app, ["cluster", "generate", "--nodes", nodes, "--out", str(directory / "cluster.yaml")]
    )
    assert result.exit_code == 0, result.output


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue: str  # team-a or team-b (its namespace and LocalQueue)
    pods: int
    gpus: int
    indexed: bool = False
    min_pods: int | None = None


def kueue(quota_a: int, quota_b: int, borrowing_b: int | None) -> str:
    def cq(name: str, quota: int, limit: int | None) -> str:
        limit_line = f"\n        borrowingLimit: {limit}" if limit is not None else ""
        return f"""apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {{name: {name}}}
spec:
  cohortName: research
  namespaceSelector: {{}}
  resourceGroups:
  - coveredResources: ["{GPUS}"]
    flavors:
    - name: h100
      resources:
      - name: {GPUS}
        nominalQuota: {quota}{limit_line}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {{name: user, namespace: {name}}}
spec: {{clusterQueue: {name}}}
"""

    flavor = """apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: h100}
spec:
  nodeLabels: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
"""
    return "---\n".join([flavor, cq("team-a", quota_a, None), cq("team-b", quota_b, borrowing_b)])


def templates() -> str:
    out = []
    for ns in ("team-a", "team-b"):
        for count in (1, 2, 4, 8):
            out.append(
                f"""apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {{name: gpus-{count}, namespace: {ns}}}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {{deviceClassName: gpu.nvidia.com, allocationMode: ExactCount, count: {count}}}
"""
            )
    return "---\n".join(out)


def job(spec: JobSpec, index: int) -> str:
    annotations = (
        f"\n  annotations: {{kueue.x-k8s.io/job-min-parallelism: '{spec.min_pods}'}}"
        if spec.min_pods is not None
        else ""
    )
    mode = "\n  completionMode: Indexed" if spec.indexed else ""
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {spec.name}
  namespace: {spec.queue}
  uid: 00000000-0000-4000-8000-0000000000{index:02d}
  creationTimestamp: "2026-03-02T09:{index:02d}:00Z"
  labels: {{kueue.x-k8s.io/queue-name: user}}{annotations}
spec:
  parallelism: {spec.pods}
  completions: {spec.pods}{mode}
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: trainer:1
        resources: {{claims: [{{name: gpus}}]}}
      resourceClaims: [{{name: gpus, resourceClaimTemplateName: gpus-{spec.gpus}}}]
"""


def run(
    directory: Path,
    nodes: str,
    quotas: tuple[int, int, int | None],
    jobs: list[JobSpec],
    *,
    placement: bool = True,
) -> QueueRun:
    cluster_file(directory, nodes)
    text = "---\n".join([kueue(*quotas), templates(), *(job(j, i) for i, j in enumerate(jobs))])
    (directory / "queue.yaml").write_text(text)
    cluster = read_cluster([str(directory)])
    return run_queue(cluster, SchedulerConfiguration(), Features(), placement=placement, now=NOW)


# -------------------------------------------------------------------- the check itself


def checker(directory: Path, nodes: str, jobs: list[JobSpec]) -> tuple[SchedulerPlacement, dict]:
    cluster_file(directory, nodes)
    text = "---\n".join([kueue(64, 0, None), templates(), *(job(j, i) for i, j in enumerate(jobs))])
    (directory / "queue.yaml").write_text(text)
    cluster = read_cluster([str(directory)])
    inputs, jobs_of = read_queue_input(cluster)
    queued = {id(o) for o in jobs_of.values()}
    others = cluster.without([o for o in cluster.objects if id(o) in queued])
    plan, frameworks = plan_schedule(others, SchedulerConfiguration(), Features(), None)
    templates_ = [o.obj for o in cluster.objects if o.kind == "ResourceClaimTemplate"]
    check = SchedulerPlacement(
        plan.cache, frameworks, inputs.flavors, jobs_of, templates_, inputs.priority_classes
    )
    return check, inputs.workloads


def admitted(workload, count: int):  # type: ignore[no-untyped-def]
    out = workload.__copy__() if hasattr(workload, "__copy__") else workload
    out.status.admission = Admission(
        cluster_queue="team-a",
        pod_set_assignments=[PodSetAssignment(name="main", flavors={GPUS: "h100"}, count=count)],
    )
    return out


def cache_state(check: SchedulerPlacement) -> tuple[object, ...]:
    cache = check.cache
    return (
        sorted(cache.pods),
        sorted((k, c.status.allocation is not None) for k, c in cache.claims.items()),
    )


def test_a_failed_check_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    check, workloads = checker(tmp_path, "2xh100:gpus=4", [JobSpec("big", "team-a", 2, 8)])
    before = cache_state(check)
    (workload,) = workloads.values()
    answer = check.place(admitted(workload, 2))
    assert answer is not None
    assert answer.startswith("pod team-a/big-")
    assert answer.endswith(": 0/2 nodes are available: 2 cannot allocate all claims.")
    assert cache_state(check) == before
    assert check.placed == {}


def test_a_passed_check_binds_the_pods_so_the_next_check_sees_them(tmp_path: Path) -> None:
    jobs = [JobSpec("one", "team-a", 2, 4), JobSpec("two", "team-a", 1, 4)]
    check, workloads = checker(tmp_path, "2xh100:gpus=4", jobs)
    first, second = workloads.values()
    assert check.place(admitted(first, 2)) is None
    placed = check.placed[f"team-a/{first.metadata.name}"]
    assert sorted(placed.nodes.values()) == ["h100-00", "h100-01"]
    assert all(key in check.cache.pods for key in placed.nodes)
    allocated = [c for c in check.cache.claims.values() if c.status.allocation is not None]
    assert len(allocated) == 2
    # Every GPU is taken now: the second Workload's pod fits nowhere.
    answer = check.place(admitted(second, 1))
    assert answer is not None and "0/2 nodes are available" in answer
    # Evicting the first frees its pods and claims; then the second fits.
    check.forget(f"team-a/{first.metadata.name}")
    assert not any(c.status.allocation for c in check.cache.claims.values())
    assert check.place(admitted(second, 1)) is None


# ---------------------------------------------------------------------------- property

job_specs = st.builds(
    JobSpec,
    name=st.just(""),
    queue=st.sampled_from(["team-a", "team-b"]),
    pods=st.integers(1, 4),
    gpus=st.sampled_from([1, 2, 4, 8]),
    indexed=st.booleans(),
    min_pods=st.none() | st.integers(1, 3),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    nodes=st.sampled_from(["1xh100:gpus=8", "2xh100:gpus=4", "3xh100:gpus=2", "4xh100:gpus=4"]),
    quota_a=st.integers(0, 16),
    quota_b=st.integers(0, 16),
    borrowing_b=st.none() | st.integers(0, 8),
    jobs=st.lists(job_specs, min_size=1, max_size=5),
)
def test_with_placement_every_admitted_workload_is_placed_and_no_quota_is_exceeded(
    nodes: str,
    quota_a: int,
    quota_b: int,
    borrowing_b: int | None,
    jobs: list[JobSpec],
) -> None:
    jobs = [
        JobSpec(f"job{i}", j.queue, j.pods, j.gpus, j.indexed, j.min_pods)
        for i, j in enumerate(jobs)
    ]
    with tempfile.TemporaryDirectory() as directory:
        result = run(Path(directory), nodes, (quota_a, quota_b, borrowing_b), jobs)
    for key in result.admitted:
        assert key in result.state.reservations
        pods = result.pods[key]
        admission = result.inputs.workloads[key].status.admission
        assert admission is not None
        (assignment,) = admission.pod_set_assignments
        count = assignment.count
        assert len(pods) == count, (key, pods)
        assert all(node is not None for _, node in pods), (key, pods)
    usage = {"team-a": 0, "team-b": 0}
    for reservation in result.state.reservations.values():
        usage[reservation.cluster_queue] += reservation.usage.get(FlavorResource("h100", GPUS), 0)
    assert usage["team-a"] + usage["team-b"] <= quota_a + quota_b
    if borrowing_b is not None:
        assert usage["team-b"] <= quota_b + borrowing_b
    assert result.exit_code in (0, 1)
