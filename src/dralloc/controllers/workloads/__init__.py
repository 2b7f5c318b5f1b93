"""Workload controllers: the pods Deployments, ReplicaSets, StatefulSets, Jobs, JobSets and
LeaderWorkerSets become, as kube-controller-manager (and the JobSet and LeaderWorkerSet
projects' controllers and webhooks) create them.

`expand_workloads(workloads, rng, pods)` is the entry point: it returns a `WorkloadExpansion`
with the created ReplicaSets, StatefulSets, Jobs and pods, each pod with its chain of owners.
One module per controller (`deployment`, `replicaset`, `statefulset`, `job`, `jobset`,
`leaderworkerset`) holds pure functions over `dralloc.api.workloads` structs and an
`ExpansionState`, the cluster they act on; a live cluster mode can drive the same functions
from informers. Claims from a pod's ResourceClaimTemplates are not made here: that is the
ResourceClaim controller's job (`dralloc.controllers.resourceclaim`), once the pods exist.
"""

from dralloc.controllers.workloads.expansion import expand_workloads
from dralloc.controllers.workloads.model import Note, WorkloadExpansion, WorkloadPod, WorkloadRef
from dralloc.controllers.workloads.state import ExpansionState

__all__ = [
    "ExpansionState",
    "Note",
    "WorkloadExpansion",
    "WorkloadPod",
    "WorkloadRef",
    "expand_workloads",
]
