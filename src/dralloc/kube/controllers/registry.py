"""Which controllers `--controllers` may name, and building them in one place.

`scheduler` is not built here (the CLI runs it); every other name is a controller of this
package. Unknown names are an InputError naming the valid ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from dralloc.errors import InputError, Problem
from dralloc.kube.client import JOBS, KubeClient
from dralloc.kube.controllers.base import Controller
from dralloc.kube.controllers.deployment import DeploymentController
from dralloc.kube.controllers.gc import (
    DEFAULT_DEPENDENTS,
    DEPLOYMENT_OWNERS,
    JOB_OWNERS,
    JOBSET_OWNERS,
    LEADER_WORKER_SET_OWNERS,
    POD_OWNERS,
    REPLICA_SET_OWNERS,
    STATEFUL_SET_OWNERS,
    GarbageCollector,
)
from dralloc.kube.controllers.job import JobController
from dralloc.kube.controllers.jobset import SERVICES, JobSetController
from dralloc.kube.controllers.leaderworkerset import (
    LeaderWorkerSetController,
    lws_pod_admission,
)
from dralloc.kube.controllers.queue import WORKLOADS, QueueController
from dralloc.kube.controllers.queuecluster import LivePlacement
from dralloc.kube.controllers.queueready import WaitForPodsReady
from dralloc.kube.controllers.replicaset import REPLICA_SETS, ReplicaSetController
from dralloc.kube.controllers.resourceclaim import ResourceClaimController
from dralloc.kube.controllers.statefulset import (
    CONTROLLER_REVISIONS,
    STATEFUL_SETS,
    StatefulSetController,
)
from dralloc.kube.events import EventRecorder
from dralloc.kube.shared_informers import SharedInformers

SCHEDULER = "scheduler"
# The event source kube-controller-manager's ResourceClaim controller reports as.
RESOURCE_CLAIM_EVENT_SOURCE = "resource_claim"
CONTROLLER_NAMES = (
    "resourceclaim",
    "gc",
    "job",
    "replicaset",
    "deployment",
    "statefulset",
    "jobset",
    "leaderworkerset",
    "queue",
)


def build_controllers(
    names: Iterable[str],
    client: KubeClient,
    informers: SharedInformers,
    *,
    rng: random.Random,
    queue_placement: LivePlacement | None = None,
    queue_wait_for_pods_ready: WaitForPodsReady | None = None,
) -> list[Controller]:
    """The controllers `names` asks for, in a fixed order, their informer handlers registered
    (call before `informers.start()`). `scheduler` is accepted and skipped. `rng` is for
    controllers that draw random numbers (none does yet: names come from the server).
    `queue_placement`: the queue controller admits only what the scheduler could place
    (None: quota only, as Kueue). `queue_wait_for_pods_ready`: Kueue's waitForPodsReady for
    the queue controller (None: off, Kueue's default); its requeue jitter draws from `rng`."""
    wanted = [n.strip() for n in names if n.strip()]
    unknown = sorted({n for n in wanted if n != SCHEDULER and n not in CONTROLLER_NAMES})
    if unknown:
        valid = ", ".join((SCHEDULER, *CONTROLLER_NAMES))
        raise InputError(
            [
                Problem("--controllers", "", "", f"unknown controller {n!r} (valid: {valid})")
                for n in unknown
            ]
        )
    chosen = set(wanted)
    if "leaderworkerset" in chosen and "statefulset" not in chosen:
        # The LeaderWorkerSet pod webhook runs inside dralloc's StatefulSet controller.
        raise InputError(
            [
                Problem(
                    "--controllers",
                    "",
                    "",
                    "leaderworkerset needs statefulset (its pods are made, and given the "
                    "LeaderWorkerSet webhook's labels, by dralloc's StatefulSet controller)",
                )
            ]
        )
    built: list[Controller] = []
    if "resourceclaim" in chosen:
        events = EventRecorder(client, RESOURCE_CLAIM_EVENT_SOURCE)
        built.append(ResourceClaimController(client, informers, events=events))
    if "job" in chosen:
        built.append(JobController(client, informers))
    if "replicaset" in chosen:
        built.append(ReplicaSetController(client, informers))
    if "deployment" in chosen:
        built.append(DeploymentController(client, informers))
    if "statefulset" in chosen:
        admission = lws_pod_admission if "leaderworkerset" in chosen else None
        built.append(StatefulSetController(client, informers, admission=admission))
    if "jobset" in chosen:
        built.append(JobSetController(client, informers))
    if "leaderworkerset" in chosen:
        built.append(LeaderWorkerSetController(client, informers))
    if "queue" in chosen:
        built.append(
            QueueController(
                client,
                informers,
                placement=queue_placement,
                wait_for_pods_ready=queue_wait_for_pods_ready,
                # Drawn only when used, so other draws from `rng` stay as they were.
                rng=random.Random(rng.random()) if queue_wait_for_pods_ready else None,
            )
        )
    if "gc" in chosen:
        # Owners of the kinds a chosen controller creates; without it they are not
        # created here, and kube-controller-manager's own collector is not running either.
        owners = [POD_OWNERS]
        dependents = list(DEFAULT_DEPENDENTS)
        if "job" in chosen or "jobset" in chosen:
            # The JobSet controller deletes Jobs in the foreground: the collector finishes them.
            owners.append(JOB_OWNERS)
        if "replicaset" in chosen or "deployment" in chosen:
            owners.append(REPLICA_SET_OWNERS)
        if "deployment" in chosen:
            owners.append(DEPLOYMENT_OWNERS)
            dependents.append(REPLICA_SETS)
        if "statefulset" in chosen:
            owners.append(STATEFUL_SET_OWNERS)
            dependents.append(CONTROLLER_REVISIONS)
        if "jobset" in chosen:
            owners.append(JOBSET_OWNERS)
            dependents.append(JOBS)
        if "leaderworkerset" in chosen:
            # Worker StatefulSets are owned by their leader pods (pods are owners already).
            owners.append(LEADER_WORKER_SET_OWNERS)
            dependents.append(STATEFUL_SETS)
        if "jobset" in chosen or "leaderworkerset" in chosen:
            dependents.append(SERVICES)
        if "queue" in chosen:
            # Workloads are owned by their Jobs and JobSets.
            owners += [o for o in (JOB_OWNERS, JOBSET_OWNERS) if o not in owners]
            dependents.append(WORKLOADS)
        built.append(GarbageCollector(client, informers, owner_kinds=owners, dependents=dependents))
    return built
