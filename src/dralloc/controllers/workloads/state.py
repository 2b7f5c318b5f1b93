"""The cluster as the workload controllers see it during one expansion.

`ExpansionState` owns the view: the input's pods and workloads, indexed as the controllers'
informers index them (pods by controlling owner, orphan pods by label), the pod names taken
per namespace, and everything the controllers create. One `expand_workloads` call builds one
and is its only user; controllers read it and append to it through its methods, never by
reaching into its fields. Randomness (generated names, UIDs) comes from the `random.Random`
it is given, so the same input and seed give the same objects.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.workloads import Job, LabelSelector, ReplicaSet, StatefulSet, Workload
from dralloc.controllers.resourceclaim import generated_name
from dralloc.controllers.workloads.model import Note, WorkloadExpansion, WorkloadPod, WorkloadRef
from dralloc.controllers.workloads.pods import controller_of
from dralloc.controllers.workloads.selectors import selector_matches
from dralloc.errors import Problem

PodKey = tuple[str, str]  # (namespace, name)


def is_owned_by(ref: OwnerReference, kind: str, name: str, uid: str) -> bool:
    """Whether a controller reference points at the object `kind name` with `uid`.

    Offline objects often have no UID, and objects the expansion makes get a fresh one that
    no input pod can know: the UIDs are compared only when both are known (upstream compares
    the UID alone).
    """
    return ref.kind == kind and ref.name == name and (not uid or not ref.uid or ref.uid == uid)


class ExpansionState:
    """Input pods and workloads, and what the controllers created from them.

    >>> state = ExpansionState(random.Random(0))
    >>> len(state.new_uid())
    36
    """

    def __init__(
        self,
        rng: random.Random,
        pods: Iterable[Pod] = (),
        workloads: Iterable[Workload] = (),
    ) -> None:
        self.rng = rng
        self._pods: dict[PodKey, Pod] = {}
        self._names: dict[str, set[str]] = defaultdict(set)
        self._by_controller: dict[tuple[str, str, str], list[Pod]] = defaultdict(list)
        # Orphans by (namespace, label key, label value), and all orphans of a namespace for
        # selectors without matchLabels: adoption looks at few pods, not all of them.
        self._orphans_by_label: dict[tuple[str, str, str], list[Pod]] = defaultdict(list)
        self._orphans: dict[str, list[Pod]] = defaultdict(list)
        self._claimed: set[PodKey] = set()
        for pod in pods:
            meta = pod.metadata
            key = (meta.namespace, meta.name)
            self._pods[key] = pod
            self._names[meta.namespace].add(meta.name)
            ref = controller_of(meta)
            if ref is None:
                self._orphans[meta.namespace].append(pod)
                for label, value in meta.labels.items():
                    self._orphans_by_label[(meta.namespace, label, value)].append(pod)
            else:
                self._by_controller[(meta.namespace, ref.kind, ref.name)].append(pod)
        self._workloads: dict[tuple[str, str, str], Workload] = {}
        self._workloads_of_kind: dict[tuple[str, str], list[Workload]] = defaultdict(list)
        for obj in workloads:
            meta = obj.metadata
            self._workloads[(obj.kind, meta.namespace, meta.name)] = obj
            self._workloads_of_kind[(obj.kind, meta.namespace)].append(obj)
        self._created: list[WorkloadPod] = []
        self._existing: dict[PodKey, WorkloadPod] = {}
        self._deleted: list[WorkloadPod] = []
        self._replica_sets: list[ReplicaSet] = []
        self._stateful_sets: list[StatefulSet] = []
        self._jobs: list[Job] = []
        self._notes: list[Note] = []
        self._problems: list[Problem] = []

    # ------------------------------------------------------------------------------ reads

    def new_uid(self) -> str:
        """A UUID (version 4) drawn from the seeded generator."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def with_uid(self, meta: ObjectMeta, kind: str) -> ObjectMeta:
        """`meta`, or a copy with a UID when it has none (the API server sets one). An input
        workload's UID follows from its kind, namespace and name, not from the generator: the
        same manifest read again beside the pods it made finds them (their owner references
        and `controller-uid` labels carry it)."""
        if meta.uid:
            return meta
        identity = f"dralloc.io/{kind}/{meta.namespace}/{meta.name}"
        return msgspec.structs.replace(meta, uid=str(uuid.uuid5(uuid.NAMESPACE_URL, identity)))

    def pod(self, namespace: str, name: str) -> Pod | None:
        """The input pod of that name."""
        return self._pods.get((namespace, name))

    def workload(self, kind: str, namespace: str, name: str) -> Workload | None:
        """The input workload of that kind and name."""
        return self._workloads.get((kind, namespace, name))

    def workloads_in(self, kind: str, namespace: str) -> list[Workload]:
        """Input workloads of one kind in one namespace, in input order."""
        return list(self._workloads_of_kind.get((kind, namespace), ()))

    def pods_controlled_by(self, namespace: str, kind: str, name: str) -> list[Pod]:
        """Input pods whose controller reference names `kind name` (any UID), in input order."""
        return list(self._by_controller.get((namespace, kind, name), ()))

    def controller_names(self, namespace: str, kind: str, prefix: str) -> list[str]:
        """Names of `kind` objects that input pods in `namespace` name as their controller
        and that start with `prefix`, whether or not the input holds them."""
        return [
            name
            for (ns, k, name) in self._by_controller
            if ns == namespace and k == kind and name.startswith(prefix)
        ]

    def is_name_taken(self, namespace: str, name: str) -> bool:
        return name in self._names[namespace]

    # ----------------------------------------------------------------------------- writes

    def claim_pods(
        self,
        owners: tuple[WorkloadRef, ...],
        controller: OwnerReference,
        match_uid: str,
        selector: LabelSelector | None,
        namespace: str,
        *,
        is_member: Callable[[Pod], bool] | None = None,
        finalizer: str = "",
        adopt: bool = True,
    ) -> list[Pod]:
        """The input pods a controller manages (upstream's `PodControllerRefManager.ClaimPods`):
        those it controls that still match its selector, and orphans matching the selector,
        which it adopts (adding its controller reference and, for a Job, `finalizer`). A pod
        is claimed once; a later controller with an overlapping selector does not see it.
        Every claimed pod is recorded in `existing` with `owners`.
        """
        claimed: list[Pod] = []
        for pod in self._by_controller.get((namespace, controller.kind, controller.name), ()):
            key = (namespace, pod.metadata.name)
            ref = controller_of(pod.metadata)
            if key in self._claimed or ref is None:
                continue
            if not is_owned_by(ref, controller.kind, controller.name, match_uid):
                continue
            if not selector_matches(selector, pod.metadata.labels):
                continue  # upstream releases it: it is nobody's now
            if is_member is not None and not is_member(pod):
                continue
            self._claimed.add(key)
            self._existing[key] = WorkloadPod(pod, owners)
            claimed.append(pod)
        if not adopt:
            return claimed
        for pod in self._orphan_candidates(namespace, selector):
            key = (namespace, pod.metadata.name)
            if key in self._claimed or not selector_matches(selector, pod.metadata.labels):
                continue
            if is_member is not None and not is_member(pod):
                continue
            self._claimed.add(key)
            meta = pod.metadata
            finalizers = list(meta.finalizers)
            if finalizer and finalizer not in finalizers:
                finalizers.append(finalizer)
            adopted = msgspec.structs.replace(
                pod,
                metadata=msgspec.structs.replace(
                    meta,
                    owner_references=[*meta.owner_references, controller],
                    finalizers=finalizers,
                ),
            )
            self._existing[key] = WorkloadPod(adopted, owners, adopted=True)
            claimed.append(adopted)
        return claimed

    def _orphan_candidates(self, namespace: str, selector: LabelSelector | None) -> list[Pod]:
        if selector is None:
            return []
        if selector.match_labels:
            smallest: list[Pod] | None = None
            for label, value in selector.match_labels.items():
                found = self._orphans_by_label.get((namespace, label, value), [])
                if smallest is None or len(found) < len(smallest):
                    smallest = found
            return list(smallest or ())
        return list(self._orphans.get(namespace, ()))

    def create_pod(
        self,
        pod: Pod,
        owners: tuple[WorkloadRef, ...],
        *,
        hostname: str = "",
        subdomain: str = "",
        after: tuple[str, ...] = (),
    ) -> WorkloadPod:
        """Store a new pod as the API server would: a name from `generateName` (5 random
        characters, retried while taken) unless it has one, and a UID. The caller checks that
        a fixed name is free."""
        meta = pod.metadata
        name = meta.name
        if not name:
            name = generated_name(meta.generate_name, self.rng)
            while name in self._names[meta.namespace]:
                name = generated_name(meta.generate_name, self.rng)
        self._names[meta.namespace].add(name)
        stored = msgspec.structs.replace(
            pod, metadata=msgspec.structs.replace(meta, name=name, uid=self.new_uid())
        )
        entry = WorkloadPod(stored, owners, hostname=hostname, subdomain=subdomain, after=after)
        self._created.append(entry)
        return entry

    def delete_pod(self, pod: Pod, owners: tuple[WorkloadRef, ...]) -> None:
        """Record that a controller deletes an input pod (it no longer counts as existing)."""
        self._existing.pop((pod.metadata.namespace, pod.metadata.name), None)
        self._deleted.append(WorkloadPod(pod, owners))

    def add_replica_set(self, rs: ReplicaSet) -> None:
        self._replica_sets.append(rs)

    def add_stateful_set(self, sts: StatefulSet) -> None:
        self._stateful_sets.append(sts)

    def add_job(self, job: Job) -> None:
        self._jobs.append(job)

    def note(self, obj: WorkloadRef | str, message: str) -> None:
        self._notes.append(Note(str(obj), message))

    def problem(self, obj: WorkloadRef | str, field: str, message: str) -> None:
        self._problems.append(Problem("", str(obj), field, message))

    def result(self) -> WorkloadExpansion:
        return WorkloadExpansion(
            pods=tuple(self._created),
            existing=tuple(self._existing.values()),
            deleted=tuple(self._deleted),
            replica_sets=tuple(self._replica_sets),
            stateful_sets=tuple(self._stateful_sets),
            jobs=tuple(self._jobs),
            notes=tuple(self._notes),
            problems=tuple(self._problems),
        )
