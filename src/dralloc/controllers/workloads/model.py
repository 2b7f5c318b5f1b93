"""What expanding workloads gives back: the pods (each with its chain of owners), the
intermediate objects the controllers made, and what they would do later.

Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.workloads import Job, ReplicaSet, StatefulSet
from dralloc.errors import Problem


@dataclass(frozen=True)
class WorkloadRef:
    """One object of an owner chain. `str()` is `Kind namespace/name`, as errors print it.

    >>> str(WorkloadRef("Deployment", "ml", "web"))
    'Deployment ml/web'
    """

    kind: str
    namespace: str
    name: str
    uid: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @classmethod
    def of(cls, kind: str, meta: ObjectMeta) -> WorkloadRef:
        return cls(kind, meta.namespace, meta.name, meta.uid)


@dataclass(frozen=True)
class WorkloadPod:
    """A pod a controller created (or an input pod it counted) and who owns it.

    `owners` runs from the pod's controller (a ReplicaSet, StatefulSet or Job) up to the
    top-level workload (a Deployment, JobSet, LeaderWorkerSet or the controller itself);
    `owners[-1]` is the workload to group the pod under.

    `hostname` and `subdomain` are what the controller writes into `spec.hostname` and
    `spec.subdomain` (StatefulSet pods, Indexed Job pods, JobSet and LeaderWorkerSet pods);
    `dralloc.api.core.PodSpec` does not model those fields, so they travel here. Empty when
    the controller sets neither.

    `after` names pods (same namespace) that must be Running and Ready before the controller
    creates this one: the previous ordinal of an OrderedReady StatefulSet, the leader of a
    LeaderWorkerSet group with `startupPolicy: LeaderReady`, the pods of the ReplicatedJob a
    JobSet ReplicatedJob waits for (`startupPolicy: InOrder`, `dependsOn: Ready`).

    `adopted` marks an input pod without a controller that the controller adopted (its
    `pod` then carries the new controller reference, as upstream's adoption patch does).
    """

    pod: Pod
    owners: tuple[WorkloadRef, ...]
    hostname: str = ""
    subdomain: str = ""
    after: tuple[str, ...] = ()
    adopted: bool = False

    @property
    def top(self) -> WorkloadRef:
        """The top-level workload the pod belongs to."""
        return self.owners[-1]


@dataclass(frozen=True)
class Note:
    """Something a controller does later or not at all, said of one object.

    >>> str(Note("Job ml/train", "suspended: no pods are created"))
    'Job ml/train: suspended: no pods are created'
    """

    obj: str
    message: str

    def __str__(self) -> str:
        return f"{self.obj}: {self.message}"


@dataclass(frozen=True)
class WorkloadExpansion:
    """The objects kube-controller-manager (and the JobSet and LeaderWorkerSet controllers)
    would create for some workloads, once every pod they create is Running and Ready and none
    has finished.

    * `pods`: the created pods, in creation order;
    * `existing`: input pods a controller counts toward its replicas (owned, or adopted);
    * `deleted`: input pods a controller deletes to converge (surplus replicas, pods of a
      Deployment's old ReplicaSets, active pods of a suspended Job, StatefulSet pods past the
      last ordinal);
    * `replica_sets`, `stateful_sets`, `jobs`: the intermediate objects, created or (for a
      Deployment's current ReplicaSet found in the input) scaled;
    * `notes`: what the controllers do later (Job pods beyond `parallelism`, ReplicatedJobs
      waiting for others to complete) or leave alone (suspended, paused, managed elsewhere);
    * `problems`: workloads no controller can act on, with the field at fault.
    """

    pods: tuple[WorkloadPod, ...] = ()
    existing: tuple[WorkloadPod, ...] = ()
    deleted: tuple[WorkloadPod, ...] = ()
    replica_sets: tuple[ReplicaSet, ...] = ()
    stateful_sets: tuple[StatefulSet, ...] = ()
    jobs: tuple[Job, ...] = ()
    notes: tuple[Note, ...] = ()
    problems: tuple[Problem, ...] = ()

    def by_owner(self) -> dict[WorkloadRef, list[WorkloadPod]]:
        """Created and existing pods grouped by top-level workload, in first-seen order."""
        groups: dict[WorkloadRef, list[WorkloadPod]] = {}
        for entry in _chain(self.existing, self.pods):
            groups.setdefault(entry.top, []).append(entry)
        return groups


def _chain(*parts: Iterable[WorkloadPod]) -> Iterable[WorkloadPod]:
    for part in parts:
        yield from part
