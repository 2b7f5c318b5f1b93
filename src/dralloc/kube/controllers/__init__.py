"""Controllers for clusters without kube-controller-manager (`dralloc scheduler
--controllers scheduler,resourceclaim,gc,job,...`; spec/cluster-mode.md section 5).

* `resourceclaim`: kube-controller-manager's ResourceClaim controller on the wire: claims
  from templates, reservations of pods that are gone dropped, claims deallocated and their
  finalizer removed, unused generated claims deleted;
* `gc`: claims and pods (and ReplicaSets) whose owners are gone are deleted, owners deleted
  with the orphan or foreground finalizer are finished;
* `job`, `replicaset`, `deployment`: minimal batch/v1 Job, apps/v1 ReplicaSet and Deployment
  controllers (pods from templates, counts in the status; no rollout steps);
* `statefulset`: ordinal pods, OrderedReady or Parallel, the ControllerRevision and status
  (no volume claims, no rolling updates);
* `jobset`, `leaderworkerset`: the JobSet (jobset.x-k8s.io/v1alpha2) and LeaderWorkerSet
  (leaderworkerset.x-k8s.io/v1) controllers over their CRDs: child Jobs, headless Services,
  leader and worker StatefulSets, the LWS pod webhook's labels, status and conditions;
* `queue`: Kueue's admission (kueue.x-k8s.io/v1beta2) for Jobs and JobSets labelled
  `kueue.x-k8s.io/queue-name`: Workloads, admission cycles of `dralloc.queueing`, jobs
  started on their flavors or kept suspended, preemption, ClusterQueue status
  (`controllers.queue`; refused beside a running Kueue); with `queue_placement`, only what
  the scheduler could place now is admitted (`controllers.queuecluster`).

Each controller registers handlers on a `SharedInformers` when built and works a
deduplicating `WorkQueue` in `run()`. `build_controllers` makes them from names;
`check_no_controller_manager` refuses to start beside a live kube-controller-manager.

    informers = SharedInformers(client)
    controllers = build_controllers(["resourceclaim", "gc"], client, informers, rng=rng)
    await check_no_controller_manager(client, [c.name for c in controllers])
    await informers.start()
    tasks = [asyncio.create_task(c.run()) for c in controllers]
"""

from dralloc.kube.controllers.base import (
    CONTROLLER_MANAGER_LEASE,
    Controller,
    ControllerConflict,
    check_no_controller_manager,
)
from dralloc.kube.controllers.deployment import (
    DEPLOYMENTS,
    DeploymentController,
    DeploymentPlan,
    plan_deployment,
)
from dralloc.kube.controllers.gc import JOB_OWNERS, POD_OWNERS, GarbageCollector, OwnerKind
from dralloc.kube.controllers.job import JobController, JobPlan, plan_job
from dralloc.kube.controllers.jobset import JOBSETS, JobSetController, plan_jobset
from dralloc.kube.controllers.leaderworkerset import (
    LEADER_WORKER_SETS,
    LeaderWorkerSetController,
    plan_leader_worker_set,
)
from dralloc.kube.controllers.owned import PodOwnerController, PodsPlan
from dralloc.kube.controllers.podclaims import claim_from_template
from dralloc.kube.controllers.registry import CONTROLLER_NAMES, build_controllers
from dralloc.kube.controllers.replicaset import (
    REPLICA_SETS,
    ReplicaSetController,
    plan_replica_set,
)
from dralloc.kube.controllers.resourceclaim import (
    DELETE_PROTECTION_FINALIZER,
    FIELD_MANAGER,
    ResourceClaimController,
)
from dralloc.kube.controllers.statefulset import (
    CONTROLLER_REVISIONS,
    STATEFUL_SETS,
    StatefulSetController,
    plan_stateful_set,
)
from dralloc.kube.controllers.workqueue import WorkQueue, failure_delay

__all__ = [
    "CONTROLLER_MANAGER_LEASE",
    "CONTROLLER_NAMES",
    "CONTROLLER_REVISIONS",
    "DELETE_PROTECTION_FINALIZER",
    "DEPLOYMENTS",
    "FIELD_MANAGER",
    "JOBSETS",
    "JOB_OWNERS",
    "LEADER_WORKER_SETS",
    "POD_OWNERS",
    "REPLICA_SETS",
    "STATEFUL_SETS",
    "Controller",
    "ControllerConflict",
    "DeploymentController",
    "DeploymentPlan",
    "GarbageCollector",
    "JobController",
    "JobPlan",
    "JobSetController",
    "LeaderWorkerSetController",
    "OwnerKind",
    "PodOwnerController",
    "PodsPlan",
    "ReplicaSetController",
    "ResourceClaimController",
    "StatefulSetController",
    "WorkQueue",
    "build_controllers",
    "check_no_controller_manager",
    "claim_from_template",
    "failure_delay",
    "plan_deployment",
    "plan_job",
    "plan_jobset",
    "plan_leader_worker_set",
    "plan_replica_set",
    "plan_stateful_set",
]
