"""kube-controller-manager's ResourceClaim controller against a live API server
(`--controllers resourceclaim`; spec/cluster-mode.md section 5, dra-v1.md sections 2.7, 7.8).

Two kinds of work items, as upstream (`pkg/controller/resourceclaim`):

* `pod:<ns>/<name>`: for each pod claim from a template without a claim yet, POST one
  (named and built like the offline controller's: `generate_name_prefix`, the
  `resource.kubernetes.io/pod-claim-name` annotation, the template's labels, annotations and
  spec, a controller owner reference to the pod) and record the names with one server-side
  apply of `status.resourceClaimStatuses` (field manager `ResourceClaimController`, forced).
  A pod already bound to a node gets its allocated claims reserved if the scheduler did not.
* `claim:<ns>/<name>`: drop `reservedFor` pods that are gone, replaced (another UID) or done;
  when that empties `reservedFor`, clear `status.allocation` (status PUT) and then remove the
  finalizer `resource.kubernetes.io/delete-protection` (PUT); a claim being deleted loses the
  finalizer too; a generated claim no longer reserved whose pod is done or replaced is deleted
  (a pod that is gone is left to the garbage collector, as upstream does).

Every write is a whole-object PUT carrying the resourceVersion read, so a concurrent change
makes it fail with 409 and the key is retried from the informers' newer copy.

A pod claim that cannot be made (a missing template) gets a Warning event
`FailedResourceClaimCreation` on the pod at each attempt, as upstream records it (through
events.k8s.io/v1 here, upstream's legacy recorder writes core/v1 Events).

Differences from upstream, on purpose: no PodGroup claims (DRAWorkloadResourceClaims), no
extended-resource claim cleanup, no metrics.

Owns its queue and indexes; the informers own the objects.
"""

from __future__ import annotations

import logging
from typing import Any

from dralloc.controllers.resourceclaim import POD_CLAIM_NAME_ANNOTATION
from dralloc.kube.client import (
    APPLY_PATCH,
    PODS,
    RESOURCE_CLAIM_TEMPLATES,
    RESOURCE_CLAIMS,
    ApiStatusError,
    KubeClient,
    KubeDict,
)
from dralloc.kube.controllers.base import (
    FuncHandler,
    RecentUids,
    ReverseIndex,
    SyncError,
    is_being_deleted,
    metadata,
    name_of,
    namespace_of,
    node_name_of,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.podclaims import (
    ClaimNotCreated,
    UnsupportedPodClaim,
    claim_from_template,
    claim_names_of_pod,
    copy_claim,
    is_allocated,
    is_for_pod,
    is_pod_done,
    is_reserved_for_pod,
    owning_pod,
    pod_claim_name,
    pod_claims,
    pod_needs_claims,
    pod_owner_uids,
    reserved_for,
    resource_claim_statuses_apply,
    templates_of_pod,
)
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.events import WARNING, EventRecorder
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "resourceclaim"
FIELD_MANAGER = "ResourceClaimController"
DELETE_PROTECTION_FINALIZER = "resource.kubernetes.io/delete-protection"
POD_KEY_PREFIX = "pod:"
CLAIM_KEY_PREFIX = "claim:"
# Upstream's deleted-objects LRU size (maxUIDCacheEntries).
DELETED_PODS_REMEMBERED = 500


class ResourceClaimController:
    """The cluster-mode ResourceClaim controller (see the module docstring).

    >>> controller = ResourceClaimController(client, informers)    # doctest: +SKIP
    >>> await informers.start(); await controller.run()            # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        events: EventRecorder | None = None,
    ) -> None:
        self.client = client
        # Warnings on pods whose claims cannot be made, as upstream's `resource_claim`
        # event source writes them.
        self.events = events
        self.pods = informers.informer(PODS)
        self.claims = informers.informer(RESOURCE_CLAIMS)
        self.templates = informers.informer(RESOURCE_CLAIM_TEMPLATES)
        self.queue = WorkQueue("resource_claim")
        self.deleted_pods = RecentUids(DELETED_PODS_REMEMBERED)
        self.pods_by_claim = ReverseIndex()
        self.pods_by_template = ReverseIndex()
        self.claims_by_owner = ReverseIndex()
        # Claims this controller created that its informer has not shown yet (upstream's
        # mutation cache): without them a retry before the informer catches up would create
        # a second claim for the same pod claim.
        self.created: dict[str, KubeDict] = {}
        self.pods.add_handler(
            FuncHandler(
                lambda pod: self._pod_changed(pod, deleted=False),
                lambda _, pod: self._pod_changed(pod, deleted=False),
                lambda pod: self._pod_changed(pod, deleted=True),
            )
        )
        self.claims.add_handler(
            FuncHandler(
                lambda claim: self._claim_changed(claim, deleted=False),
                lambda _, claim: self._claim_changed(claim, deleted=False),
                lambda claim: self._claim_changed(claim, deleted=True),
            )
        )
        self.templates.add_handler(
            FuncHandler(self._template_changed, lambda _, t: self._template_changed(t), _ignore)
        )

    async def run(self) -> None:
        await wait_for_informers((self.pods, self.claims, self.templates))
        # Handlers saw every listed object if they were added before start; this also covers
        # a controller built after its informers had synced.
        for pod in list(self.pods.store.values()):
            self._pod_changed(pod, deleted=False)
        for claim in list(self.claims.store.values()):
            self._claim_changed(claim, deleted=False)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    async def sync(self, key: str) -> None:
        prefix, _, rest = key.partition(":")
        namespace, _, name = rest.partition("/")
        if prefix + ":" == POD_KEY_PREFIX:
            await self.sync_pod(namespace, name)
        elif prefix + ":" == CLAIM_KEY_PREFIX:
            await self.sync_claim(namespace, name)
        else:
            raise SyncError(f"unexpected key {key!r}")

    # Event handlers: they run in the informers' tasks and only queue keys.

    def _pod_changed(self, pod: KubeDict, *, deleted: bool) -> None:
        key = object_key(pod)
        if deleted:
            self.pods_by_claim.remove(key)
            self.pods_by_template.remove(key)
        else:
            self.pods_by_claim.set(key, claim_names_of_pod(pod))
            self.pods_by_template.set(key, templates_of_pod(pod))
        if not pod_claims(pod):
            return
        if deleted:
            self.deleted_pods.add(uid_of(pod))
        if not pod_needs_claims(pod, deleted):
            for claim in claim_names_of_pod(pod):
                self.queue.add(CLAIM_KEY_PREFIX + claim)
        if self._pod_needs_work(pod):
            self.queue.add(POD_KEY_PREFIX + key)

    def _pod_needs_work(self, pod: KubeDict) -> bool:
        """Upstream's podNeedsWork: a claim to create or (for a bound pod) to reserve."""
        if is_being_deleted(pod):
            return False
        for pod_claim in pod_claims(pod):
            try:
                name, check_owner = pod_claim_name(pod, pod_claim)
            except (ClaimNotCreated, UnsupportedPodClaim):
                return True
            if name is None:
                continue
            claim = self.claims.get(f"{namespace_of(pod)}/{name}")
            if claim is None:
                if pod_claim.get("resourceClaimTemplateName") is not None:
                    return True
                continue  # a claim the user must create
            if check_owner and not is_for_pod(pod, claim):
                continue
            if not node_name_of(pod):
                continue
            if is_allocated(claim) and not is_reserved_for_pod(pod, claim):
                return True
        return False

    def _claim_changed(self, claim: KubeDict, *, deleted: bool) -> None:
        key = object_key(claim)
        self.created.pop(key, None)
        if deleted:
            self.claims_by_owner.remove(key)
        else:
            self.claims_by_owner.set(key, pod_owner_uids(claim))
            # At start-up every claim is checked for stale reservations; on an update a pod
            # may have been added that is already gone.
            self.queue.add(CLAIM_KEY_PREFIX + key)
        for pod_key in self.pods_by_claim.members(key):
            pod = self.pods.get(pod_key)
            if pod is not None:
                self._pod_changed(pod, deleted=False)

    def _template_changed(self, template: KubeDict) -> None:
        for pod_key in self.pods_by_template.members(object_key(template)):
            pod = self.pods.get(pod_key)
            if pod is not None:
                self._pod_changed(pod, deleted=False)

    # Pods.

    async def sync_pod(self, namespace: str, name: str) -> None:
        pod = self.pods.get(f"{namespace}/{name}")
        if pod is None or is_being_deleted(pod):
            return
        created: dict[str, str] = {}
        for pod_claim in pod_claims(pod):
            try:
                await self._handle_claim(pod, pod_claim, created)
            except (ApiStatusError, SyncError) as err:
                if self.events is not None:
                    self.events.record(
                        pod,
                        type_=WARNING,
                        reason="FailedResourceClaimCreation",
                        action="CreateResourceClaim",
                        note=f"PodResourceClaim {pod_claim.get('name')}: {err}",
                    )
                raise SyncError(
                    f"pod {namespace}/{name}, PodResourceClaim {pod_claim.get('name')}: {err}"
                ) from err
        if created:
            await self.client.patch(
                PODS.item(namespace, name, "status"),
                resource_claim_statuses_apply(pod, created),
                APPLY_PATCH,
                fieldManager=FIELD_MANAGER,
                force=True,
            )
        if not node_name_of(pod):
            return  # the scheduler reserves the claims of pods it binds
        for pod_claim in pod_claims(pod):
            try:
                claim_name, check_owner = pod_claim_name(pod, pod_claim)
            except (ClaimNotCreated, UnsupportedPodClaim) as err:
                raise SyncError(str(err)) from err
            if claim_name is None:
                continue
            claim = self.claims.get(f"{namespace}/{claim_name}")
            if claim is None:
                return
            if check_owner and not is_for_pod(pod, claim):
                raise SyncError(
                    f"ResourceClaim {namespace}/{claim_name} was not created for Pod "
                    f"{namespace}/{name} (Pod is not owner)"
                )
            if is_allocated(claim) and not is_reserved_for_pod(pod, claim):
                await self._reserve(pod, claim)

    async def _handle_claim(
        self, pod: KubeDict, pod_claim: dict[str, Any], created: dict[str, str]
    ) -> None:
        namespace = namespace_of(pod)
        try:
            claim_name, check_owner = pod_claim_name(pod, pod_claim)
        except ClaimNotCreated:
            pass
        except UnsupportedPodClaim as err:
            raise SyncError(f"checking for claim before creating it: {err}") from err
        else:
            if claim_name is None:
                return  # no claim needed
            existing = self.claims.get(f"{namespace}/{claim_name}")
            if existing is not None:
                if not check_owner or is_for_pod(pod, existing):
                    return
                log.error(
                    "claim %s/%s recorded for pod %s/%s is not owned by it; creating a new one",
                    namespace,
                    claim_name,
                    namespace,
                    name_of(pod),
                )
        template_name = pod_claim.get("resourceClaimTemplateName")
        if template_name is None:
            return
        claim = self._find_pod_claim(pod, str(pod_claim.get("name")))
        if claim is None:
            template = self.templates.get(f"{namespace}/{template_name}")
            if template is None:
                raise SyncError(
                    f'resource claim template "{template_name}": resourceclaimtemplate.resource'
                    f'.k8s.io "{template_name}" not found'
                )
            body = claim_from_template(pod, str(pod_claim.get("name")), template)
            claim = await self.client.create(RESOURCE_CLAIMS.collection(namespace), body)
            log.info(
                "created ResourceClaim %s/%s for pod %s/%s",
                namespace,
                name_of(claim),
                namespace,
                name_of(pod),
            )
            key = object_key(claim)
            if self.claims.get(key) is None:
                self.created[key] = claim
        created[str(pod_claim.get("name"))] = name_of(claim)

    def _find_pod_claim(self, pod: KubeDict, pod_claim: str) -> KubeDict | None:
        """A claim the controller made for this pod claim earlier, whose name never reached
        the pod's status (it failed in between)."""
        candidates = [self.claims.get(k) for k in self.claims_by_owner.members(uid_of(pod))]
        candidates += [
            c
            for c in self.created.values()
            if uid_of(pod) in pod_owner_uids(c) and self.claims.get(object_key(c)) is None
        ]
        for claim in candidates:
            if claim is None:
                continue
            annotations = metadata(claim).get("annotations") or {}
            if annotations.get(POD_CLAIM_NAME_ANNOTATION) == pod_claim:
                return claim
        return None

    async def _reserve(self, pod: KubeDict, claim: KubeDict) -> None:
        updated = copy_claim(claim)
        status = updated.setdefault("status", {})
        status["reservedFor"] = [
            *reserved_for(claim),
            {"resource": "pods", "name": name_of(pod), "uid": uid_of(pod)},
        ]
        await self.client.update(
            RESOURCE_CLAIMS.item(namespace_of(claim), name_of(claim), "status"), updated
        )

    # Claims.

    async def sync_claim(self, namespace: str, name: str) -> None:
        claim = self.claims.get(f"{namespace}/{name}")
        if claim is None:
            return
        reservations = reserved_for(claim)
        remaining = [entry for entry in reservations if await self._keeps(claim, entry)]
        finalizers = list(metadata(claim).get("finalizers") or [])
        protected = DELETE_PROTECTION_FINALIZER in finalizers
        if len(remaining) < len(reservations):
            updated = copy_claim(claim)
            status = updated.setdefault("status", {})
            status["reservedFor"] = remaining
            if not remaining and protected:
                # DRA deallocates as soon as the last consumer is gone, so the devices can
                # be allocated again, anywhere (upstream: "DRA always performs delayed
                # allocations"). The server drops the devices' status with them.
                status.pop("allocation", None)
            if not remaining:
                status.pop("reservedFor", None)
            stored = await self.client.update(
                RESOURCE_CLAIMS.item(namespace, name, "status"), updated
            )
            log.info(
                "claim %s/%s: dropped %d reservation(s)%s",
                namespace,
                name,
                len(reservations) - len(remaining),
                "" if is_allocated(stored) else ", deallocated",
            )
            stored_finalizers = list(metadata(stored).get("finalizers") or [])
            if DELETE_PROTECTION_FINALIZER in stored_finalizers and not is_allocated(stored):
                await self._drop_finalizer(stored)
        elif protected and is_being_deleted(claim) and not remaining:
            current = claim
            if is_allocated(claim):
                # Allocated, unused, then deleted: deallocate before letting it go.
                updated = copy_claim(claim)
                updated.setdefault("status", {}).pop("allocation", None)
                current = await self.client.update(
                    RESOURCE_CLAIMS.item(namespace, name, "status"), updated
                )
            await self._drop_finalizer(current)
        if not remaining:
            await self._delete_if_unused(claim)

    async def _keeps(self, claim: KubeDict, entry: dict[str, Any]) -> bool:
        """Whether a reservation stays: pods that are gone, replaced or done lose theirs;
        consumers of other kinds are kept untouched."""
        if entry.get("apiGroup", "") or entry.get("resource") != "pods":
            return True
        uid = str(entry.get("uid", ""))
        if uid in self.deleted_pods:
            return False
        namespace = namespace_of(claim)
        pod = self.pods.get(f"{namespace}/{entry.get('name')}")
        if pod is None:
            # Perhaps not in the informer yet: dropping the reservation of a pod being
            # scheduled would be wrong, so ask the server.
            try:
                live = await self.client.get(PODS.item(namespace, str(entry.get("name"))))
            except ApiStatusError as err:
                if not err.is_not_found:
                    raise
                return False
            return uid_of(live) == uid
        if uid_of(pod) != uid:
            return False
        return not is_pod_done(pod)

    async def _drop_finalizer(self, claim: KubeDict) -> None:
        updated = copy_claim(claim)
        meta = updated["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        finalizers.remove(DELETE_PROTECTION_FINALIZER)
        meta["finalizers"] = finalizers
        await self.client.update(RESOURCE_CLAIMS.item(namespace_of(claim), name_of(claim)), updated)

    async def _delete_if_unused(self, claim: KubeDict) -> None:
        """A generated claim nobody reserves whose pod is replaced or done is deleted now;
        normally the garbage collector would, but the pod may linger."""
        pod_name, pod_uid = owning_pod(claim)
        if not pod_name or is_being_deleted(claim):
            return
        namespace = namespace_of(claim)
        pod = self.pods.get(f"{namespace}/{pod_name}")
        if pod is None:
            return  # maybe not known yet: the garbage collector deals with pods that are gone
        if uid_of(pod) != pod_uid or is_pod_done(pod):
            try:
                await self.client.delete(RESOURCE_CLAIMS.item(namespace, name_of(claim)))
            except ApiStatusError as err:
                if not err.is_not_found:
                    raise
            log.info("deleted unused generated claim %s/%s", namespace, name_of(claim))


def _ignore(_: KubeDict) -> None:
    return None
