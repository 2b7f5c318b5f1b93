"""The binding cycle's writes, in the order and with the bodies of spec/cluster-mode.md
section 4: claims' finalizer and status (PreBind), pods/binding (Bind), the reservations taken
back after a failure (Unreserve), and the PodScheduled condition of a failed attempt.

`ClaimBinder` does I/O only; what to write comes from the scheduling cycle as a `BindingPlan`.
A failure is a `BindingFailed` whose message is what the pod's condition and event say.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dralloc.api.validation.times import format_time
from dralloc.kube.assume import ClaimAssumeCache
from dralloc.kube.client import (
    PODS,
    RESOURCE_CLAIMS,
    STRATEGIC_MERGE_PATCH,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
)

log = logging.getLogger(__name__)

DELETE_PROTECTION_FINALIZER = "resource.kubernetes.io/delete-protection"
# dra-v1.md 7.6: binding conditions are polled every 5 s for at most bindingTimeout.
BINDING_CONDITIONS_POLL_SECONDS = 5.0
BINDING_TIMEOUT_SECONDS = 600.0
CONFLICT_ATTEMPTS = 5
CONFLICT_DELAY_SECONDS = 0.01


@dataclass
class ClaimWrite:
    """One claim of the pod: `allocation` is the wire form of what this cycle allocated, None
    for a claim allocated before (only the reservation is written)."""

    key: str
    allocation: dict[str, Any] | None = None
    written: bool = False  # the pod is in the server's reservedFor now
    # The claim of DRA-backed extended resources (KEP-5004), made in memory at Reserve: it is
    # created first (spec 4.1), under the name Reserve gave it.
    create: dict[str, Any] | None = None
    created: bool = False

    @property
    def namespace(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]


@dataclass
class BindingPlan:
    pod: KubeDict  # as the informer last had it
    node: str
    claims: list[ClaimWrite] = field(default_factory=list)
    # `status.extendedResourceClaimStatus` to record once the claims are written.
    extended_status: dict[str, Any] | None = None

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace") or "default")

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"].get("uid", ""))


class BindingFailed(Exception):
    """A binding cycle step failed: `message` for the pod's condition and event; `forget`
    when the pod is gone or bound elsewhere (nothing to retry)."""

    def __init__(self, message: str, *, forget: bool = False, forbidden: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.forget = forget
        self.forbidden = forbidden


def _device_status(devices: list[dict[str, Any]], result: dict[str, Any]) -> dict[str, Any] | None:
    for entry in devices:
        if (
            entry.get("driver") == result.get("driver")
            and entry.get("pool") == result.get("pool")
            and entry.get("device") == result.get("device")
            and entry.get("shareID") == result.get("shareID")
        ):
            return entry
    return None


def _forbidden(err: ApiStatusError, what: str) -> BindingFailed:
    return BindingFailed(
        f"{what}: forbidden: {err.message} (the scheduler's role lacks a permission: "
        f"{err.method} {err.path})",
        forbidden=True,
    )


class ClaimBinder:
    """PreBind, Bind and Unreserve on the wire for one scheduler."""

    def __init__(
        self,
        client: KubeClient,
        assume: ClaimAssumeCache,
        *,
        binding_conditions: bool = True,
        rng: random.Random | None = None,
        before_pre_bind: Callable[[BindingPlan], Awaitable[None]] | None = None,
        on_binding_conditions_pending: Callable[[BindingPlan], None] | None = None,
        binding_timeout: float = BINDING_TIMEOUT_SECONDS,
        poll_interval: float = BINDING_CONDITIONS_POLL_SECONDS,
    ) -> None:
        self.client = client
        self.assume = assume
        self.binding_conditions = binding_conditions
        self.rng = rng if rng is not None else random.Random()
        # A test's hook between Reserve and PreBind (spec 8.7, the injected conflict).
        self.before_pre_bind = before_pre_bind
        self.conflicts = 0  # 409s answered by a fresh read and another attempt
        self.on_binding_conditions_pending = on_binding_conditions_pending
        self.binding_timeout = binding_timeout
        self.poll_interval = poll_interval

    # ------------------------------------------------------------------------ PreBind

    async def pre_bind(self, plan: BindingPlan) -> None:
        if self.before_pre_bind is not None:
            await self.before_pre_bind(plan)
        for claim in plan.claims:
            if claim.create is not None:
                await self._create_claim(claim)
            await self._write_claim(plan, claim)
        await self._wait_for_binding_conditions(plan)
        if plan.extended_status is not None:
            body = {"status": {"extendedResourceClaimStatus": plan.extended_status}}
            try:
                await self.client.patch(
                    PODS.item(plan.namespace, plan.name, "status"), body, STRATEGIC_MERGE_PATCH
                )
            except ApiStatusError as err:
                if err.is_forbidden:
                    raise _forbidden(err, "record the extended-resource claim") from err
                raise BindingFailed(
                    f"record the extended-resource claim: {err.message}", forget=err.is_not_found
                ) from err
            except ApiUnavailable as err:
                raise BindingFailed(f"record the extended-resource claim: {err}") from err

    async def _wait_for_binding_conditions(self, plan: BindingPlan) -> None:
        """dra-v1.md 7.6 step 3: devices with binding conditions must report them True in
        the claim's `status.devices` (their driver writes them) before the pod is bound; a
        failure condition ends the attempt at once, and so does the timeout."""
        waiting: dict[str, list[dict[str, Any]]] = {}
        for claim in plan.claims:
            allocation = claim.allocation
            if allocation is None:
                latest = self.assume.latest.get(claim.key) or {}
                allocation = (latest.get("status") or {}).get("allocation") or {}
            results = (allocation.get("devices") or {}).get("results") or []
            conditioned = [r for r in results if r.get("bindingConditions")]
            if conditioned:
                waiting[claim.key] = conditioned
        if not waiting:
            return
        if self.on_binding_conditions_pending is not None:
            self.on_binding_conditions_pending(plan)
        deadline = time.monotonic() + self.binding_timeout
        while True:
            pending = False
            for key, results in waiting.items():
                namespace, name = key.split("/", 1)
                try:
                    current = await self.client.get(RESOURCE_CLAIMS.item(namespace, name))
                except (ApiStatusError, ApiUnavailable) as err:
                    raise BindingFailed(f"claim {key}: {err}") from err
                devices = (current.get("status") or {}).get("devices") or []
                for result in results:
                    found = _device_status(devices, result)
                    conditions = {c.get("type"): c for c in (found or {}).get("conditions") or []}
                    for failure in result.get("bindingFailureConditions") or []:
                        failed = conditions.get(failure)
                        if failed is not None and failed.get("status") == "True":
                            raise BindingFailed(
                                f"claim {name} binding failed: reason={failed.get('reason', '')}, "
                                f"message={failed.get('message', '')}"
                            )
                    if any(
                        (conditions.get(c) or {}).get("status") != "True"
                        for c in result.get("bindingConditions") or []
                    ):
                        pending = True
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise BindingFailed("device binding timeout")
            await asyncio.sleep(self.poll_interval)

    async def _create_claim(self, claim: ClaimWrite) -> None:
        assert claim.create is not None
        try:
            created = await self.client.create(
                RESOURCE_CLAIMS.collection(claim.namespace), claim.create
            )
        except ApiStatusError as err:
            if err.is_forbidden:
                raise _forbidden(err, f"create claim {claim.key}") from err
            raise BindingFailed(f"create claim {claim.key}: {err.message}") from err
        except ApiUnavailable as err:
            raise BindingFailed(f"create claim {claim.key}: {err}") from err
        claim.created = True
        self.assume.assume(claim.key, created)

    async def _write_claim(self, plan: BindingPlan, claim: ClaimWrite) -> None:
        path = RESOURCE_CLAIMS.item(claim.namespace, claim.name)
        unavailable_retried = False
        current = self.assume.latest.get(claim.key)
        attempt = 0
        while attempt < CONFLICT_ATTEMPTS:
            if attempt > 0 or current is None:
                try:
                    current = await self.client.get(path)
                except ApiStatusError as err:
                    if err.is_not_found:
                        raise BindingFailed(
                            f"claim {claim.key} got deleted in the meantime"
                        ) from err
                    if err.is_forbidden:
                        raise _forbidden(err, f"get claim {claim.key}") from err
                    raise BindingFailed(f"get claim {claim.key}: {err.message}") from err
                except ApiUnavailable as err:
                    raise BindingFailed(f"get claim {claim.key}: {err}") from err
            attempt += 1
            try:
                done = await self._write_claim_once(plan, claim, current)
            except ApiStatusError as err:
                if err.is_conflict:
                    self.conflicts += 1
                    await asyncio.sleep(CONFLICT_DELAY_SECONDS * (1 + 0.1 * self.rng.random()))
                    continue
                if err.is_not_found:
                    raise BindingFailed(f"claim {claim.key} got deleted in the meantime") from err
                if err.is_forbidden:
                    raise _forbidden(err, f"update claim {claim.key}") from err
                if err.code >= 500 and not unavailable_retried:
                    unavailable_retried = True
                    attempt -= 1
                    continue
                raise BindingFailed(f"update claim {claim.key}: {err.message}") from err
            except ApiUnavailable as err:
                if not unavailable_retried:
                    unavailable_retried = True
                    attempt -= 1
                    continue
                raise BindingFailed(f"update claim {claim.key}: {err}") from err
            if done is not None:
                self.assume.assume(claim.key, done)
                claim.written = True
                return
        raise BindingFailed(
            f"claim {claim.key}: still conflicting after {CONFLICT_ATTEMPTS} attempts"
        )

    async def _write_claim_once(
        self, plan: BindingPlan, claim: ClaimWrite, current: KubeDict
    ) -> KubeDict | None:
        meta = current.get("metadata", {})
        if meta.get("deletionTimestamp"):
            raise BindingFailed(f"claim {claim.key} got deleted in the meantime")
        status = dict(current.get("status") or {})
        reserved = list(status.get("reservedFor") or [])
        if any(r.get("uid") == plan.uid for r in reserved) and (
            claim.allocation is None or status.get("allocation")
        ):
            return current  # already written (a retry after the status PUT went through)
        obj = current
        if claim.allocation is not None:
            if status.get("allocation"):
                raise BindingFailed(f"claim {claim.key} got allocated elsewhere in the meantime")
            finalizers = list(meta.get("finalizers") or [])
            if DELETE_PROTECTION_FINALIZER not in finalizers:
                with_finalizer = {
                    **current,
                    "metadata": {**meta, "finalizers": [*finalizers, DELETE_PROTECTION_FINALIZER]},
                }
                obj = await self.client.update(
                    RESOURCE_CLAIMS.item(claim.namespace, claim.name), with_finalizer
                )
                self.assume.assume(claim.key, obj)
                status = dict(obj.get("status") or {})
                reserved = list(status.get("reservedFor") or [])
            allocation = dict(claim.allocation)
            if self.binding_conditions and "allocationTimestamp" not in allocation:
                allocation["allocationTimestamp"] = format_time(datetime.now(UTC))
            status["allocation"] = allocation
        elif not status.get("allocation"):
            raise BindingFailed(f"claim {claim.key} lost its allocation in the meantime")
        reserved.append({"resource": "pods", "name": plan.name, "uid": plan.uid})
        status["reservedFor"] = reserved
        body = {**obj, "status": status}
        return await self.client.update(
            RESOURCE_CLAIMS.item(claim.namespace, claim.name, "status"), body
        )

    # --------------------------------------------------------------------------- Bind

    async def bind(self, plan: BindingPlan) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": plan.name, "namespace": plan.namespace, "uid": plan.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": plan.node},
        }
        try:
            await self.client.create(PODS.item(plan.namespace, plan.name, "binding"), body)
        except ApiStatusError as err:
            if err.is_not_found:
                raise BindingFailed(
                    f"pod {plan.namespace}/{plan.name} is gone", forget=True
                ) from err
            if err.is_conflict:
                raise BindingFailed(f"binding rejected: {err.message}", forget=True) from err
            if err.is_forbidden:
                raise _forbidden(err, "bind") from err
            raise BindingFailed(f"binding rejected: {err.message}") from err
        except ApiUnavailable as err:
            raise BindingFailed(f"binding failed: {err}") from err

    # ---------------------------------------------------------------------- Unreserve

    async def unreserve(self, plan: BindingPlan) -> None:
        """Take the pod out of the reservedFor lists it was written into; delete the
        extended-resource claim this cycle created (the next attempt makes its own)."""
        for claim in plan.claims:
            if claim.created:
                uid = ((self.assume.latest.get(claim.key) or {}).get("metadata") or {}).get("uid")
                body = {"preconditions": {"uid": uid}} if uid else None
                try:
                    await self.client.delete(
                        RESOURCE_CLAIMS.item(claim.namespace, claim.name), body
                    )
                except (ApiStatusError, ApiUnavailable) as err:
                    log.warning("delete the extended-resource claim %s: %s", claim.key, err)
                continue
            latest = self.assume.latest.get(claim.key)
            reserved = ((latest or {}).get("status") or {}).get("reservedFor") or []
            if not claim.written and not any(r.get("uid") == plan.uid for r in reserved):
                continue
            uid = ((latest or {}).get("metadata") or {}).get("uid", "")
            body = {
                "metadata": {"uid": uid},
                "status": {"reservedFor": [{"$patch": "delete", "uid": plan.uid}]},
            }
            try:
                written = await self.client.patch(
                    RESOURCE_CLAIMS.item(claim.namespace, claim.name, "status"),
                    body,
                    STRATEGIC_MERGE_PATCH,
                )
                self.assume.assume(claim.key, written)
            except ApiStatusError as err:
                if not err.is_not_found:
                    log.warning("unreserve %s for pod %s: %s", claim.key, plan.name, err)
            except ApiUnavailable as err:
                log.warning("unreserve %s for pod %s: %s", claim.key, plan.name, err)

    # ----------------------------------------------------------- a failed attempt's status

    async def mark_unschedulable(
        self,
        pod: KubeDict,
        *,
        reason: str,
        message: str,
        nominated_node: str | None = None,
        clear_nominated: bool = False,
    ) -> bool:
        """PodScheduled=False with `reason` and `message` (spec 4.5); skipped when the pod
        already says so. Returns whether a patch was sent."""
        status = pod.get("status") or {}
        for condition in status.get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == reason
                and condition.get("message") == message
                and nominated_node is None
                and not clear_nominated
            ):
                return False
        body: dict[str, Any] = {
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": reason,
                        "message": message,
                        "lastTransitionTime": format_time(datetime.now(UTC)),
                    }
                ]
            }
        }
        if nominated_node is not None:
            body["status"]["nominatedNodeName"] = nominated_node
        elif clear_nominated:
            body["status"]["nominatedNodeName"] = None
        meta = pod.get("metadata", {})
        path = PODS.item(meta.get("namespace") or "default", meta["name"], "status")
        for attempt in range(2):
            try:
                await self.client.patch(path, body, STRATEGIC_MERGE_PATCH)
                return True
            except ApiStatusError as err:
                if err.is_conflict and attempt == 0:
                    continue
                if not err.is_not_found:
                    log.warning(
                        "PodScheduled condition for %s/%s: %s",
                        meta.get("namespace"),
                        meta["name"],
                        err,
                    )
                return False
            except ApiUnavailable:
                return False
        return False
