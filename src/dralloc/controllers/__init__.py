"""Controllers: what the control plane does around the scheduler, over a client Protocol.

`resourceclaim` is kube-controller-manager's ResourceClaim controller: it creates a pod's
claims from ResourceClaimTemplates and records them in `pod.status.resourceClaimStatuses`.
Controllers talk to a small client Protocol (`ClaimClient`); `InMemoryClaimClient` implements it
over plain collections for offline runs, and a store or cluster adapter can implement it too.

`workloads` holds the controllers that create pods: Deployment, ReplicaSet, StatefulSet and
Job (kube-controller-manager), JobSet and LeaderWorkerSet (their projects' controllers);
`expand_workloads` turns workloads into the pods they become.

`queueplacement` (placement-aware admission) and `consolidation` (moves of preemptible pods that
reopen whole GPUs or hosts) use the scheduler; they are imported by their module path so that
importing this package stays light.
"""

from dralloc.controllers.resourceclaim import (
    POD_CLAIM_NAME_ANNOTATION,
    ClaimClient,
    ClaimStore,
    InMemoryClaimClient,
    PodClaimsResult,
    ResourceClaimController,
    generate_name_prefix,
    generated_name,
)
from dralloc.controllers.workloads import (
    WorkloadExpansion,
    WorkloadPod,
    WorkloadRef,
    expand_workloads,
)

__all__ = [
    "POD_CLAIM_NAME_ANNOTATION",
    "ClaimClient",
    "ClaimStore",
    "InMemoryClaimClient",
    "PodClaimsResult",
    "ResourceClaimController",
    "WorkloadExpansion",
    "WorkloadPod",
    "WorkloadRef",
    "expand_workloads",
    "generate_name_prefix",
    "generated_name",
]
