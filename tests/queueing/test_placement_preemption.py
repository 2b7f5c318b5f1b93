"""Preemption that knows placement (spec/queueing.md 8.2, kueue#5243): with the scheduler-backed
placement check, the preemptor names only victims whose removal lets its pods be placed, goes
on through Kueue's candidate order until some set does, and names none (evicting nothing,
saying why) when no set does. Without the what-if (`placement_preemption=False`) the victims
are Kueue's, chosen by quota: scattered GPUs the preemptor cannot use."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from queueing_helpers import NOW
from test_placement import GPUS, cluster_file, templates

from dralloc.cli.inputs import read_cluster
from dralloc.cli.queue import read_queue_input
from dralloc.cli.schedule import plan_schedule
from dralloc.controllers.queueplacement import SchedulerPlacement
from dralloc.features import Features
from dralloc.queueing import (
    ClassicalPreemptor,
    CycleResult,
    FairSharingPreemptor,
    Preemptor,
    QueueConfig,
    QueueManager,
    QueueState,
    Workload,
    evict,
    schedule,
)
from dralloc.queueing.objects import Admission, PodSetAssignment
from dralloc.scheduler.config import SchedulerConfiguration

HOSTNAME = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Job:
    name: str
    pods: int
    gpus: int  # per pod
    priority: str = "low"
    node: str | None = None  # pinned by nodeSelector


def queues(quota: int) -> str:
    return f"""apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {{name: h100}}
spec:
  nodeLabels: {{nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {{name: team-a}}
spec:
  namespaceSelector: {{}}
  preemption: {{withinClusterQueue: LowerPriority}}
  resourceGroups:
  - coveredResources: ["{GPUS}"]
    flavors:
    - name: h100
      resources:
      - name: {GPUS}
        nominalQuota: {quota}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {{name: user, namespace: team-a}}
spec: {{clusterQueue: team-a}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {{name: low}}
value: 10
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {{name: high}}
value: 1000
"""


def job(spec: Job, index: int) -> str:
    selector = f"\n      nodeSelector: {{{HOSTNAME}: {spec.node}}}" if spec.node else ""
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {spec.name}
  namespace: team-a
  uid: 00000000-0000-4000-8000-0000000000{index:02d}
  creationTimestamp: "2026-03-02T09:{index:02d}:00Z"
  labels: {{kueue.x-k8s.io/queue-name: user, kueue.x-k8s.io/priority-class: {spec.priority}}}
spec:
  parallelism: {spec.pods}
  completions: {spec.pods}
  suspend: true
  template:
    spec:
      restartPolicy: Never{selector}
      containers:
      - name: main
        image: trainer:1
        resources: {{claims: [{{name: gpus}}]}}
      resourceClaims: [{{name: gpus, resourceClaimTemplateName: gpus-{spec.gpus}}}]
"""


@dataclass
class Bench:
    """The queue state, its manager and the scheduler-backed check over one cluster."""

    state: QueueState
    manager: QueueManager
    check: SchedulerPlacement
    workloads: dict[str, Workload]

    def key(self, name: str) -> str:
        (found,) = [k for k in self.workloads if k.startswith(f"team-a/job-{name}-")]
        return found

    def name(self, key: str) -> str:
        return key.split("/")[1].split("-")[1]

    def admit_one_by_one(self, names: list[str], preemptor: Preemptor) -> None:
        """Each job queued and admitted alone, a second apart (so the candidate order, most
        recently reserved first, is the reverse of `names`)."""
        for i, name in enumerate(names):
            self.manager.add(self.workloads[self.key(name)])
            now = NOW + timedelta(seconds=i)
            result = schedule(
                self.state, self.manager, now, preemptor=preemptor, placement=self.check
            )
            assert result.admitted == [self.key(name)], result.pending

    def cycle(self, names: list[str], preemptor: Preemptor, **options: bool) -> CycleResult:
        for name in names:
            self.manager.add(self.workloads[self.key(name)])
        return schedule(
            self.state,
            self.manager,
            NOW + timedelta(minutes=5),
            config=QueueConfig(fair_sharing=isinstance(preemptor, FairSharingPreemptor)),
            preemptor=preemptor,
            placement=self.check,
            **options,
        )

    def evict_victims(self, result: CycleResult) -> None:
        for victim, by, reason in result.preemptions:
            evict(self.state, self.manager, self.workloads[victim], by, reason, NOW)
            self.check.forget(victim)

    def placeable(self, key: str) -> str | None:
        """Whether the Workload's pods could be placed now (without binding)."""
        workload = self.workloads[key]
        entry = self.manager.workloads[key]
        (count,) = [ps.count for ps in workload.spec.pod_sets]
        copy = Workload(metadata=workload.metadata, spec=workload.spec)
        copy.status.admission = Admission(
            cluster_queue=entry.cluster_queue,
            pod_set_assignments=[
                PodSetAssignment(name="main", flavors={GPUS: "h100"}, count=count)
            ],
        )
        return self.check.place(copy, bind=False)


def bench(directory: Path, nodes: str, quota: int, jobs: list[Job]) -> Bench:
    cluster_file(directory, nodes)
    text = "---\n".join([queues(quota), templates(), *(job(j, i) for i, j in enumerate(jobs))])
    (directory / "queue.yaml").write_text(text)
    cluster = read_cluster([str(directory)])
    inputs, jobs_of = read_queue_input(cluster)
    queued = {id(o) for o in jobs_of.values()}
    others = cluster.without([o for o in cluster.objects if id(o) in queued])
    plan, frameworks = plan_schedule(others, SchedulerConfiguration(), Features(), None)
    claim_templates = [o.obj for o in cluster.objects if o.kind == "ResourceClaimTemplate"]
    check = SchedulerPlacement(
        plan.cache, frameworks, inputs.flavors, jobs_of, claim_templates, inputs.priority_classes
    )
    state = QueueState.build(inputs)
    return Bench(state, QueueManager(state), check, inputs.workloads)


# Eight 1-GPU jobs over two 4-GPU nodes, alternating (l0 on h100-00, l1 on h100-01, ...),
# admitted one by one: Kueue's candidate order is l7, l6, l5, ... (most recently reserved
# first), so victims chosen by quota are l7, l6, l5, l4: two GPUs freed on each node, where
# the 4-GPU preemptor fits on neither.
SCATTERED = [Job(f"l{i}", 1, 1, "low", f"h100-0{i % 2}") for i in range(8)]
LOWS = [j.name for j in SCATTERED]


@pytest.mark.parametrize("preemptor", [ClassicalPreemptor(), FairSharingPreemptor()])
def test_the_preemptor_takes_the_victims_of_one_node_not_the_first_four_by_quota(
    tmp_path: Path, preemptor: Preemptor
) -> None:
    bench_ = bench(tmp_path, "2xh100:gpus=4", 8, [*SCATTERED, Job("big", 1, 4, "high")])
    bench_.admit_one_by_one(LOWS, preemptor)
    result = bench_.cycle(["big"], preemptor)
    victims = sorted(bench_.name(v) for v, _, _ in result.preemptions)
    # The search goes on past the quota's four (l7..l4) to l1, then puts back every one it
    # can do without: what stays out is one node's jobs.
    assert victims == ["l1", "l3", "l5", "l7"]
    big = bench_.key("big")
    assert {by for _, by, _ in result.preemptions} == {big}
    assert result.pending[big].reason == "WaitingForPreemptedWorkloads"
    bench_.evict_victims(result)
    assert bench_.placeable(big) is None
    # The next cycle admits it, on the node its victims left.
    admitted = schedule(
        bench_.state,
        bench_.manager,
        NOW + timedelta(minutes=6),
        config=QueueConfig(fair_sharing=isinstance(preemptor, FairSharingPreemptor)),
        preemptor=preemptor,
        placement=bench_.check,
    ).admitted
    assert big in admitted
    assert set(bench_.check.placed[big].nodes.values()) == {"h100-01"}


def test_without_the_what_if_the_victims_are_kueues_and_the_preemptor_still_does_not_fit(
    tmp_path: Path,
) -> None:
    preemptor = ClassicalPreemptor()
    bench_ = bench(tmp_path, "2xh100:gpus=4", 8, [*SCATTERED, Job("big", 1, 4, "high")])
    bench_.admit_one_by_one(LOWS, preemptor)
    result = bench_.cycle(["big"], preemptor, placement_preemption=False)
    assert sorted(bench_.name(v) for v, _, _ in result.preemptions) == ["l4", "l5", "l6", "l7"]
    bench_.evict_victims(result)
    answer = bench_.placeable(bench_.key("big"))
    assert answer is not None and "0/2 nodes are available" in answer


def test_the_check_off_answers_every_what_if_yes_as_the_switch_does(tmp_path: Path) -> None:
    preemptor = ClassicalPreemptor()
    bench_ = bench(tmp_path, "2xh100:gpus=4", 8, [*SCATTERED, Job("big", 1, 4, "high")])
    bench_.admit_one_by_one(LOWS, preemptor)
    bench_.check.what_ifs = False
    result = bench_.cycle(["big"], preemptor)
    assert sorted(bench_.name(v) for v, _, _ in result.preemptions) == ["l4", "l5", "l6", "l7"]


def test_when_no_victim_set_lets_it_in_nothing_is_evicted_and_the_message_says_why(
    tmp_path: Path,
) -> None:
    preemptor = ClassicalPreemptor()
    # One pod of 8 GPUs: quota holds it once every low job is gone, no 4-GPU node ever does.
    bench_ = bench(tmp_path, "2xh100:gpus=4", 8, [*SCATTERED, Job("huge", 1, 8, "high")])
    bench_.admit_one_by_one(LOWS, preemptor)
    before = sorted(bench_.check.cache.pods)
    result = bench_.cycle(["huge"], preemptor)
    assert result.preemptions == []
    assert sorted(bench_.check.cache.pods) == before  # the what-ifs put everything back
    entry = result.pending[bench_.key("huge")]
    assert entry.reason == "PlacementInfeasible"
    assert "insufficient unused quota" in entry.message
    assert "; preempting would not make room for its pods: pod team-a/huge-" in entry.message
    assert entry.message.endswith("0/2 nodes are available: 2 cannot allocate all claims.")


# ---------------------------------------------------------------------------- property

low_jobs = st.lists(
    st.builds(
        Job,
        name=st.just(""),
        pods=st.integers(1, 3),
        gpus=st.sampled_from([1, 2, 4]),
        node=st.none() | st.sampled_from(["h100-00", "h100-01"]),
    ),
    min_size=1,
    max_size=6,
)
high_jobs = st.lists(
    st.builds(Job, name=st.just(""), pods=st.integers(1, 2), gpus=st.sampled_from([1, 2, 4, 8])),
    min_size=1,
    max_size=2,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Without the what-if this one evicts l1 (1 GPU) for an 8-GPU pod that then fits nowhere.
@example(
    nodes="2xh100:gpus=8",
    quota=15,
    lows=[Job("", 1, 4, node="h100-01"), Job("", 3, 2), Job("", 1, 1)],
    highs=[Job("", 1, 8)],
    fair=False,
)
@given(
    nodes=st.sampled_from(["2xh100:gpus=4", "2xh100:gpus=8", "3xh100:gpus=2"]),
    quota=st.integers(4, 16),
    lows=low_jobs,
    highs=high_jobs,
    fair=st.booleans(),
)
def test_with_placement_every_preemptor_that_evicted_is_placeable_with_its_victims_gone(
    nodes: str, quota: int, lows: list[Job], highs: list[Job], fair: bool
) -> None:
    jobs = [
        *(Job(f"l{i}", j.pods, j.gpus, "low", j.node) for i, j in enumerate(lows)),
        *(Job(f"h{i}", j.pods, j.gpus, "high") for i, j in enumerate(highs)),
    ]
    preemptor: Preemptor = FairSharingPreemptor() if fair else ClassicalPreemptor()
    with tempfile.TemporaryDirectory() as directory:
        bench_ = bench(Path(directory), nodes, quota, jobs)
    for i, low in enumerate(jobs[: len(lows)]):
        bench_.manager.add(bench_.workloads[bench_.key(low.name)])
        schedule(
            bench_.state,
            bench_.manager,
            NOW + timedelta(seconds=i),
            preemptor=preemptor,
            placement=bench_.check,
        )
    result = bench_.cycle([h.name for h in jobs[len(lows) :]], preemptor)
    preemptors = {by for _, by, _ in result.preemptions}
    bench_.evict_victims(result)
    for key in preemptors:
        # Placed on what every victim of the cycle left (preemptors of one cycle never share
        # victims; each is checked on its own).
        assert bench_.placeable(key) is None, (key, result.preemptions)
