"""Leader election over one coordination.k8s.io/v1 Lease (spec/cluster-mode.md section 7).

Owns the Lease `kube-system/dralloc` (configurable) and the decision "this process may write":
acquiring it, renewing it every `retry_period`, giving up when no renewal succeeded within
`renew_deadline`, and releasing it on shutdown. It writes nothing else and knows nothing of
scheduling; the caller starts and stops its work from the two callbacks of `run`.

The algorithm is client-go's `leaderelection` package with a Lease lock, as kube-scheduler
uses it:

* Acquire: GET the Lease; on 404 create it (a 409 there means another instance created it
  first). A Lease held by someone else may be taken when its holder is empty, or when its
  record (holder and renewTime) has not changed for `lease_duration`, measured on this
  process's monotonic clock from when this process last saw it change: clocks of different
  machines are never compared. Taking it is a PUT with the Lease's resourceVersion, so of two
  instances taking it at once the second gets 409 and stays a follower.
* Renew: the leader PUTs a new renewTime on the last Lease the server returned. A 409 means
  the Lease changed under it: read it again, and if another holder is in it, leadership is
  lost at once.
* Give up: when no renewal has succeeded for `renew_deadline` (shorter than
  `lease_duration`, so this process stops writing before any other may take over),
  `on_stopped_leading` runs and `run` raises `LeadershipLost`. A supervisor restarts the
  process.
* Release: a PUT with an empty holder and `leaseDurationSeconds: 1`, so a standby takes over
  at its next retry instead of after a full lease duration.

Status codes are handled as the Lease row of spec 4.7 says: 409 is a lost race, 404 on an
update recreates the Lease, 403 is fatal while acquiring (RBAC is missing: retrying cannot
help), and other errors or timeouts are retried every `retry_period`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from dralloc.api.validation.times import format_micro_time
from dralloc.errors import InputError, Problem
from dralloc.kube.client import LEASES, ApiStatusError, ApiUnavailable, KubeClient, KubeDict

log = logging.getLogger(__name__)

# client-go's JitterFactor for the acquire loop: a follower waits retryPeriod plus up to 1.2
# retryPeriods more, so that standbys do not all hit the server together.
ACQUIRE_JITTER = 1.2


@dataclass(frozen=True, kw_only=True)
class LeaderElectionConfig:
    """Where the Lease lives, who we are, and the timings (seconds; kube-scheduler's
    defaults). Requires lease_duration > renew_deadline > 1.2 * retry_period > 0, as
    client-go does: a leader must give up before anybody may consider its Lease expired."""

    namespace: str = "kube-system"
    name: str = "dralloc"
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        problems: list[Problem] = []

        def wrong(field: str, message: str) -> None:
            problems.append(Problem("leader election", f"Lease {self.lease}", field, message))

        if not self.identity:
            wrong("identity", "must not be empty")
        if self.retry_period <= 0:
            wrong("retryPeriod", f"must be > 0, got {self.retry_period}")
        if self.renew_deadline <= ACQUIRE_JITTER * self.retry_period:
            wrong(
                "renewDeadline",
                f"must be greater than {ACQUIRE_JITTER} * retryPeriod "
                f"({ACQUIRE_JITTER * self.retry_period:g}), got {self.renew_deadline}",
            )
        if self.lease_duration <= self.renew_deadline:
            wrong(
                "leaseDuration",
                f"must be greater than renewDeadline ({self.renew_deadline}), "
                f"got {self.lease_duration}",
            )
        if problems:
            raise InputError(problems)

    @property
    def lease(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def lease_duration_seconds(self) -> int:
        # The Lease field is whole seconds; client-go truncates the same way.
        return max(1, math.floor(self.lease_duration))


def default_identity() -> str:
    """`<hostname>_<uuid4>`: unique per process even for two processes on one host."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeadershipLost(Exception):
    """This process held the Lease and no longer may write: a renewal did not succeed within
    renewDeadline, or another holder appeared in the Lease."""


class LeaseForbidden(Exception):
    """The server refused access to the Lease (403): the RBAC for leases is missing."""


class LeaderElector:
    """One participant in the election for one Lease.

    >>> elector = LeaderElector(client, LeaderElectionConfig(identity=default_identity()))
    >>> task = asyncio.create_task(elector.run(start_scheduling, stop_scheduling))
    >>> ...                          # on SIGTERM:
    >>> task.cancel(); await elector.release()

    `clock` is a monotonic clock (seconds) for every duration; `now` gives the wall-clock time
    written into acquireTime and renewTime; `sleep` waits between attempts; `rng` jitters the
    follower's retries.
    """

    def __init__(
        self,
        client: KubeClient,
        config: LeaderElectionConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.now = now
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        # The Lease as the server last returned it, and when (monotonic) its record was last
        # seen to change.
        self._lease: KubeDict | None = None
        self._observed_record: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._is_leader = False
        self._last_renewed = 0.0
        # Set whenever the observed holder changes (a new leader, or the Lease freed).
        self.leader_changed = asyncio.Event()

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @property
    def observed_leader(self) -> str:
        """The holderIdentity last read from the Lease ("" when free or not read yet)."""
        return self._observed_record[0] if self._observed_record is not None else ""

    @property
    def lease(self) -> KubeDict | None:
        """A copy of the Lease as the server last returned it."""
        return copy.deepcopy(self._lease)

    async def run(
        self, on_started_leading: Callable[[], None], on_stopped_leading: Callable[[], None]
    ) -> None:
        """Acquire the Lease (retrying every retryPeriod, jittered), call `on_started_leading`,
        then renew until leadership is lost: then call `on_stopped_leading` and raise
        `LeadershipLost`. Never returns normally; cancel it to stop (then `release()`).
        Raises `LeaseForbidden` when the server refuses access to the Lease while acquiring."""
        await self._acquire()
        on_started_leading()
        try:
            await self._renew_until_lost()
        except Exception:
            self._is_leader = False
            on_stopped_leading()
            raise

    async def _acquire(self) -> None:
        retry = self.config.retry_period
        while not await self.try_acquire_or_renew(at_start=True):
            await self.sleep(retry + self.rng.random() * ACQUIRE_JITTER * retry)
        log.info("%s: acquired Lease %s", self.identity, self.config.lease)

    async def _renew_until_lost(self) -> NoReturn:
        config = self.config
        while True:
            await self.sleep(config.retry_period)
            # An attempt may not outlast the deadline: a leader stuck in a hanging request
            # must still stop before others may consider its Lease expired.
            remaining = self._last_renewed + config.renew_deadline - self.clock()
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), max(0.0, remaining))
            except TimeoutError:
                renewed = False
            if renewed:
                continue
            if not self._is_leader:
                raise LeadershipLost(
                    f"{self.identity}: Lease {config.lease} is held by {self.observed_leader!r}"
                )
            if self.clock() - self._last_renewed >= config.renew_deadline:
                self._is_leader = False
                raise LeadershipLost(
                    f"{self.identity}: could not renew Lease {config.lease} within "
                    f"{config.renew_deadline:g} s"
                )

    async def try_acquire_or_renew(self, *, at_start: bool = False) -> bool:
        """One attempt: True when this process holds the Lease afterwards. Errors other than
        a forbidden Lease during acquisition (`at_start`) count as a failed attempt."""
        try:
            if self._is_leader and self._lease is not None:
                renewed = await self._try_renew()
                if renewed is not None:
                    return renewed
            return await self._try_take()
        except ApiStatusError as err:
            if err.is_forbidden and at_start:
                raise LeaseForbidden(f"Lease {self.config.lease}: {err.message}") from err
            log.warning("%s: Lease %s: %s", self.identity, self.config.lease, err)
            return False
        except ApiUnavailable as err:
            log.warning("%s: Lease %s: %s", self.identity, self.config.lease, err)
            return False

    async def _try_renew(self) -> bool | None:
        """The leader's fast path: PUT a new renewTime on the Lease last returned. None when
        the Lease changed under us (409) or vanished (404): then take the slow path."""
        assert self._lease is not None
        lease = copy.deepcopy(self._lease)
        lease["spec"]["renewTime"] = format_micro_time(self.now())
        lease["spec"]["holderIdentity"] = self.identity
        lease["spec"]["leaseDurationSeconds"] = self.config.lease_duration_seconds
        try:
            written = await self.client.update(self._item, lease)
        except ApiStatusError as err:
            if err.is_conflict or err.is_not_found:
                return None
            raise
        self._record_written(written)
        return True

    async def _try_take(self) -> bool:
        """The slow path: GET (create on 404), then take or renew the Lease if allowed."""
        try:
            current = await self.client.get(self._item)
        except ApiStatusError as err:
            if not err.is_not_found:
                raise
            return await self._try_create()
        self._observe(current)
        spec = current.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        held_by_us = holder == self.identity
        expires = self._observed_at + self.config.lease_duration
        if holder and not held_by_us and self.clock() < expires:
            self._lose_if_leading()
            return False
        stamp = format_micro_time(self.now())
        lease = copy.deepcopy(current)
        new_spec = lease.setdefault("spec", {})
        new_spec["holderIdentity"] = self.identity
        new_spec["leaseDurationSeconds"] = self.config.lease_duration_seconds
        new_spec["renewTime"] = stamp
        if not held_by_us:
            new_spec["acquireTime"] = stamp
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            written = await self.client.update(self._item, lease)
        except ApiStatusError as err:
            if err.is_conflict:  # another instance wrote first: it won
                self._lose_if_leading()
                return False
            raise
        self._record_written(written)
        return True

    async def _try_create(self) -> bool:
        stamp = format_micro_time(self.now())
        lease: KubeDict = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.config.lease_duration_seconds,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            written = await self.client.create(LEASES.collection(self.config.namespace), lease)
        except ApiStatusError as err:
            if err.is_conflict:  # created by another instance first
                return False
            raise
        self._record_written(written)
        return True

    async def release(self) -> bool:
        """Free the Lease if this process holds it (an empty holder, leaseDurationSeconds 1),
        so a standby takes over at its next retry. True when released; never raises for a
        server error (shutdown goes on: the Lease then expires after leaseDuration)."""
        if not self._is_leader or self._lease is None:
            return False
        self._is_leader = False
        lease = self._lease
        # Two tries: a renewal cancelled in flight may have reached the server, leaving the
        # Lease we hold one resourceVersion behind.
        for attempt in range(2):
            try:
                written = await self.client.update(self._item, self._released(lease))
                self._observe(written)
                return True
            except ApiStatusError as err:
                if not err.is_conflict or attempt > 0:
                    self._release_failed(err)
                    return False
            except ApiUnavailable as err:
                self._release_failed(err)
                return False
            try:
                lease = await self.client.get(self._item)
            except (ApiStatusError, ApiUnavailable) as err:
                self._release_failed(err)
                return False
            self._observe(lease)
            if self.observed_leader != self.identity:
                return False  # another instance holds it now: nothing to release
        return False

    def _released(self, lease: KubeDict) -> KubeDict:
        released = copy.deepcopy(lease)
        stamp = format_micro_time(self.now())
        released["spec"].update(
            {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": stamp}
        )
        released["spec"]["renewTime"] = stamp
        return released

    def _release_failed(self, err: Exception) -> None:
        log.warning("%s: could not release Lease %s: %s", self.identity, self.config.lease, err)

    @property
    def _item(self) -> str:
        return LEASES.item(self.config.namespace, self.config.name)

    def _observe(self, lease: KubeDict) -> None:
        spec = lease.get("spec") or {}
        record = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        if record != self._observed_record:
            if self._observed_record is None or record[0] != self._observed_record[0]:
                self.leader_changed.set()
            self._observed_record = record
            self._observed_at = self.clock()
        self._lease = lease

    def _record_written(self, lease: KubeDict) -> None:
        self._observe(lease)
        self._is_leader = True
        self._last_renewed = self.clock()

    def _lose_if_leading(self) -> None:
        # Another holder is in the Lease: this process must stop writing at once, not wait
        # for its renew deadline.
        self._is_leader = False
