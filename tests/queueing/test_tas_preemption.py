"""TAS preemption (Kueue v0.17's flavor assigner and `preemption.workloadFits`): a Workload
whose quota fits but that no rack holds, while the empty topology would, turns Preempt; the
preemptor takes victims only while their domains, given back, do not yet open a rack, and puts
back every one it can do without. When no set of candidates opens one, nothing is evicted and
the Workload waits, its message saying the topology is fragmented."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from queueing_helpers import NOW
from test_tas_pods import BLOCK, FLAVOR, POOL, RACK, nodes

from dralloc.queueing import (
    ClassicalPreemptor,
    CycleResult,
    QueueManager,
    QueueState,
    TopologyPlacement,
    Workload,
    decode_assignment,
    evict,
    read_queue_files,
    schedule,
)

QUEUES = f"""\
apiVersion: kueue.x-k8s.io/v1beta2
kind: Topology
metadata: {{name: default}}
spec:
  levels:
  - nodeLabel: "{BLOCK}"
  - nodeLabel: "{RACK}"
  - nodeLabel: "kubernetes.io/hostname"
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {{name: {FLAVOR}}}
spec:
  nodeLabels: {{{POOL}: trainers}}
  topologyName: default
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {{name: research}}
spec:
  namespaceSelector: {{}}
  preemption: {{withinClusterQueue: LowerPriority}}
  resourceGroups:
  - coveredResources: ["cpu", "memory"]
    flavors:
    - name: {FLAVOR}
      resources:
      - {{name: cpu, nominalQuota: 120}}
      - {{name: memory, nominalQuota: 240Gi}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {{namespace: default, name: research-jobs}}
spec: {{clusterQueue: research}}
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


def rack_job(name: str, pods: int, priority: str) -> str:
    """An Indexed Job whose pods (1 cpu each) must share a rack."""
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  labels: {{kueue.x-k8s.io/queue-name: research-jobs, kueue.x-k8s.io/priority-class: {priority}}}
spec:
  parallelism: {pods}
  completions: {pods}
  completionMode: Indexed
  template:
    metadata:
      annotations: {{kueue.x-k8s.io/podset-required-topology: "{RACK}"}}
    spec:
      restartPolicy: Never
      containers:
      - name: shard
        image: registry.k8s.io/busybox:1.36
        resources: {{requests: {{cpu: "1", memory: 300Mi}}}}
"""


class Racks:
    """2 racks x 2 hosts of 2 cpu (4 one-cpu pods a rack), the queues above and `jobs`
    (name, pods, priority); jobs are queued by `run`."""

    def __init__(self, tmp_path: Path, *jobs: tuple[str, int, str]) -> None:
        path = tmp_path / "input.yaml"
        documents = [nodes(1, 2, 2, cpu=2), QUEUES, *(rack_job(*j) for j in jobs)]
        path.write_text("---\n".join(documents), encoding="utf-8")
        inputs = read_queue_files([str(path)])
        inputs.add_job_workloads()
        self.state = QueueState.build(inputs)
        self.manager = QueueManager(self.state)
        self.workloads: dict[str, Workload] = inputs.workloads
        self.tas = TopologyPlacement.from_input(inputs)
        self.seconds = 0

    def key(self, job: str) -> str:
        (found,) = [k for k in self.workloads if k.split("/")[1].startswith(f"job-{job}-")]
        return found

    def run(self, *jobs: str, **options: bool) -> CycleResult:
        """Queue `jobs` and run one cycle, a second after the one before."""
        for job in jobs:
            self.manager.add(self.workloads[self.key(job)])
        self.seconds += 1
        return schedule(
            self.state,
            self.manager,
            NOW + timedelta(seconds=self.seconds),
            preemptor=ClassicalPreemptor(),
            placement=self.tas,
            **options,
        )

    def racks_of(self, job: str) -> set[str]:
        admission = self.workloads[self.key(job)].status.admission
        assert admission is not None
        (psa,) = admission.pod_set_assignments
        assert psa.topology_assignment is not None
        _, domains = decode_assignment(psa.topology_assignment)
        # Hostnames b0-r<rack>-h<host>: the rack is the middle part.
        return {d.values[-1].rsplit("-", 1)[0] for d in domains}


def fill(racks: Racks) -> None:
    """a (3 pods) takes rack r0, b (2 pods) rack r1, small (1 pod) the last slot of r0
    (BestFit: the tightest rack that holds it): no slot free in r0, two in r1."""
    for job in ("a", "b", "small"):
        assert racks.run(job).admitted == [racks.key(job)]
    assert racks.racks_of("a") == racks.racks_of("small") == {"b0-r0"}
    assert racks.racks_of("b") == {"b0-r1"}


def test_preempting_the_low_priority_job_whose_rack_it_opens_and_no_other(
    tmp_path: Path,
) -> None:
    racks = Racks(tmp_path, ("a", 3, "low"), ("b", 2, "low"), ("small", 1, "low"), ("c", 3, "high"))
    fill(racks)
    result = racks.run("c")
    c = racks.key("c")
    # Kueue's order is small, b, a (most recently admitted first): small alone frees one slot
    # in r0, small and b open r1, and small is put back since b alone opens it.
    assert result.preemptions == [(racks.key("b"), c, "InClusterQueue")]
    entry = result.pending[c]
    assert entry.reason == "WaitingForPreemptedWorkloads"
    assert entry.message == (
        "couldn't assign flavors to pod set main: topology is fragmented. "
        "Pending the preemption of 1 workload(s)"
    )
    victim = racks.workloads[racks.key("b")]
    evict(racks.state, racks.manager, victim, c, "InClusterQueue", NOW)
    racks.tas.forget(racks.key("b"))
    assert racks.run().admitted == [c]
    assert racks.racks_of("c") == {"b0-r1"}


def test_without_placement_preemption_the_fragmented_job_waits_as_before(tmp_path: Path) -> None:
    racks = Racks(tmp_path, ("a", 3, "low"), ("b", 2, "low"), ("small", 1, "low"), ("c", 3, "high"))
    fill(racks)
    result = racks.run("c", placement_preemption=False)
    assert result.preemptions == []
    entry = result.pending[racks.key("c")]
    assert entry.reason == "PlacementInfeasible"
    assert "; fragmented: the empty topology would hold it" in entry.message


def test_when_no_candidate_opens_a_rack_nothing_is_evicted_and_the_message_says_fragmented(
    tmp_path: Path,
) -> None:
    # a and b are as high as c, so only small (one slot in r0) may be preempted: r0 would
    # have one slot free, r1 two; c needs three in one rack.
    racks = Racks(
        tmp_path, ("a", 3, "high"), ("b", 2, "high"), ("small", 1, "low"), ("c", 3, "high")
    )
    fill(racks)
    charged = {k: list(v) for k, v in racks.tas.charged.items()}
    result = racks.run("c")
    assert result.preemptions == []
    assert {k: list(v) for k, v in racks.tas.charged.items()} == charged  # what-ifs undone
    entry = result.pending[racks.key("c")]
    assert entry.reason == "PlacementInfeasible"
    refusal = (
        'couldn\'t assign flavors to pod set main: topology "default" allows to fit only 2 '
        'out of 3 pod(s). Total nodes: 4; excluded: resource "cpu": {}'
    )
    assert entry.message == (
        f"placement infeasible: {refusal.format(3)}; fragmented: the empty topology would "
        "hold it (Kueue then looks for Workloads to preempt for its domains; dralloc waits "
        f"for domains to free up); preempting would not make room for its pods: "
        f"{refusal.format(2)}"
    )
