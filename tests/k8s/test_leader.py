"""Leader election over a real Lease: one leader at a time, prompt hand-over on release,
take-over after an abandoned Lease expires, lost races and lost renewals (spec section 7)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from controlplane import ApiServer

from dralloc.api.validation.times import format_micro_time as micro_time
from dralloc.errors import InputError
from dralloc.kube import KubeClient
from dralloc.kube.client import LEASES, ApiUnavailable, KubeDict
from dralloc.kube.leader import (
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseForbidden,
    default_identity,
)

pytestmark = pytest.mark.k8s

MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DEADLINE = 30.0


def _config(namespace: str, name: str, identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace=namespace,
        name=name,
        identity=identity,
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.3,
    )


class _Participant:
    """An elector running in a task, recording when its callbacks ran."""

    def __init__(self, client: KubeClient, config: LeaderElectionConfig) -> None:
        self.elector = LeaderElector(client, config)
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.task: asyncio.Task[None] = asyncio.create_task(
            self.elector.run(self._started, self._stopped)
        )

    def _started(self) -> None:
        self.started_at = time.monotonic()

    def _stopped(self) -> None:
        self.stopped_at = time.monotonic()

    async def abandon(self) -> None:
        """Stop without releasing, as a crashed process would."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline} s: {what}")
        await asyncio.sleep(0.02)


async def _lease(client: KubeClient, namespace: str, name: str) -> KubeDict:
    return await client.get(LEASES.item(namespace, name))


def _run(apiserver: ApiServer, scenario: Callable[[KubeClient], Awaitable[None]]) -> None:
    async def main() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_of_two_electors_only_one_leads_and_the_lease_names_it(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario(client: KubeClient) -> None:
        a = _Participant(client, _config(namespace, "lock", "a"))
        b = _Participant(client, _config(namespace, "lock", "b"))
        await _until(lambda: a.elector.is_leader or b.elector.is_leader, "a leader")
        leader, follower = (a, b) if a.elector.is_leader else (b, a)
        first = await _lease(client, namespace, "lock")
        # Several renewals pass; the follower never leads meanwhile.
        await _until(
            lambda: leader.elector.lease is not None
            and leader.elector.lease["spec"]["renewTime"] != first["spec"]["renewTime"],
            "a renewal",
        )
        await _until(
            lambda: follower.elector.observed_leader == leader.elector.identity,
            "the follower sees the leader",
        )
        assert not follower.elector.is_leader and follower.started_at is None
        spec = (await _lease(client, namespace, "lock"))["spec"]
        assert spec["holderIdentity"] == leader.elector.identity
        assert spec["leaseDurationSeconds"] == 2
        assert spec["leaseTransitions"] == 0
        assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
        assert spec["acquireTime"] == first["spec"]["acquireTime"]  # a renewal keeps it
        await a.abandon()
        await b.abandon()

    _run(apiserver, scenario)


def test_a_released_lease_is_taken_by_the_standby_at_its_next_retry(
    apiserver: ApiServer, namespace: str
) -> None:
    # A lease duration far beyond the polling deadline: b can only take over in time if it
    # takes the freed Lease rather than waiting for it to expire.
    def config(identity: str) -> LeaderElectionConfig:
        return LeaderElectionConfig(
            namespace=namespace,
            name="lock",
            identity=identity,
            lease_duration=600.0,
            renew_deadline=1.5,
            retry_period=0.3,
        )

    async def scenario(client: KubeClient) -> None:
        a = _Participant(client, config("a"))
        await _until(lambda: a.elector.is_leader, "a leads")
        b = _Participant(client, config("b"))
        await _until(lambda: b.elector.observed_leader == "a", "b sees a")
        a.task.cancel()
        await asyncio.gather(a.task, return_exceptions=True)
        assert await a.elector.release()
        assert not a.elector.is_leader
        await _until(lambda: b.elector.is_leader, "b takes over", deadline=DEADLINE)
        assert b.started_at is not None
        spec = (await _lease(client, namespace, "lock"))["spec"]
        assert spec["holderIdentity"] == "b"
        assert spec["leaseTransitions"] == 1
        assert spec["leaseDurationSeconds"] == 600
        await b.abandon()

    _run(apiserver, scenario)


def test_an_abandoned_lease_is_taken_over_only_after_the_lease_duration(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario(client: KubeClient) -> None:
        a = _Participant(client, _config(namespace, "lock", "a"))
        await _until(lambda: a.elector.is_leader, "a leads")
        b = _Participant(client, _config(namespace, "lock", "b"))
        await _until(lambda: b.elector.observed_leader == "a", "b sees a")
        await a.abandon()
        abandoned_at = time.monotonic()
        await _until(lambda: b.elector.is_leader, "b takes over")
        assert b.started_at is not None
        # b saw a's last renewal at most one retry period before a stopped, and must then
        # see the record unchanged for a whole lease duration.
        assert b.started_at - abandoned_at >= 2.0 - 0.3
        # a comes back and must wait behind b; b's take-over counted as a transition.
        c = _Participant(client, _config(namespace, "lock", "a-again"))
        await _until(lambda: c.elector.observed_leader == "b", "a-again sees b")
        assert not c.elector.is_leader
        spec = (await _lease(client, namespace, "lock"))["spec"]
        assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
        await b.abandon()
        await c.abandon()

    _run(apiserver, scenario)


class _Interposed(KubeClient):
    """The same connection, with a hook run before each update (a PUT) is sent."""

    def __init__(self, inner: KubeClient, before_update: Callable[[], Awaitable[None]]) -> None:
        super().__init__(inner.http, qps=0, burst=1)
        self.before_update = before_update

    async def update(self, path: str, body: KubeDict, **params: Any) -> KubeDict:
        await self.before_update()
        return await super().update(path, body, **params)


def test_a_conflict_on_taking_the_lease_means_another_instance_won(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario(client: KubeClient) -> None:
        winner = LeaderElector(client, _config(namespace, "lock", "winner"))
        freed = LeaderElector(client, _config(namespace, "lock", "first"))
        assert await freed.try_acquire_or_renew()
        assert await freed.release()  # a free Lease: anybody may take it

        async def winner_goes_first() -> None:
            if not winner.is_leader:
                assert await winner.try_acquire_or_renew()

        loser = LeaderElector(
            _Interposed(client, winner_goes_first), _config(namespace, "lock", "loser")
        )
        # The loser reads the free Lease, then the winner takes it before the loser's PUT.
        assert not await loser.try_acquire_or_renew()
        assert winner.is_leader and not loser.is_leader
        spec = (await _lease(client, namespace, "lock"))["spec"]
        assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("winner", 1)

    _run(apiserver, scenario)


def test_a_leader_whose_lease_is_taken_stops_leading_at_once(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario(client: KubeClient) -> None:
        a = _Participant(client, _config(namespace, "lock", "a"))
        await _until(lambda: a.elector.is_leader, "a leads")
        lease = await _lease(client, namespace, "lock")
        lease["spec"]["holderIdentity"] = "usurper"
        await client.update(LEASES.item(namespace, "lock"), lease)
        await _until(lambda: a.task.done(), "a gives up")
        assert isinstance(a.task.exception(), LeadershipLost)
        assert a.stopped_at is not None and not a.elector.is_leader
        assert a.elector.observed_leader == "usurper"
        # It does not release what it no longer holds.
        assert not await a.elector.release()
        assert (await _lease(client, namespace, "lock"))["spec"]["holderIdentity"] == "usurper"

    _run(apiserver, scenario)


@pytest.mark.parametrize("failure", ["refused", "hanging"])
def test_a_leader_that_cannot_renew_within_the_deadline_gives_up(
    apiserver: ApiServer, namespace: str, failure: str
) -> None:
    async def scenario(client: KubeClient) -> None:
        cut_off = False
        never = asyncio.Event()

        async def maybe_unreachable() -> None:
            if cut_off and failure == "refused":
                raise ApiUnavailable("PUT lease: connection refused")
            if cut_off:
                await never.wait()  # a request the server never answers

        elector = LeaderElector(
            _Interposed(client, maybe_unreachable), _config(namespace, "lock", "a")
        )
        stopped: list[float] = []
        task = asyncio.create_task(
            elector.run(lambda: None, lambda: stopped.append(time.monotonic()))
        )
        await _until(lambda: elector.is_leader, "a leads")
        cut_off = True
        cut_at = time.monotonic()
        await _until(lambda: task.done(), "a gives up")
        assert isinstance(task.exception(), LeadershipLost)
        assert "within 1.5 s" in str(task.exception())
        assert stopped and not elector.is_leader
        # The last renewal came at most one retry period before the cut.
        assert stopped[0] - cut_at >= 1.5 - 0.3

    _run(apiserver, scenario)


def test_a_lease_renewed_by_a_cancelled_request_is_still_released(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario(client: KubeClient) -> None:
        a = _Participant(client, _config(namespace, "lock", "a"))
        await _until(lambda: a.elector.is_leader, "a leads")
        await a.abandon()
        # A renewal that reached the server although its task was cancelled: same holder,
        # newer resourceVersion than the one the elector kept.
        lease = await _lease(client, namespace, "lock")
        lease["spec"]["renewTime"] = micro_time(datetime.now(UTC))
        await client.update(LEASES.item(namespace, "lock"), lease)
        assert await a.elector.release()
        spec = (await _lease(client, namespace, "lock"))["spec"]
        assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("", 1)

    _run(apiserver, scenario)


def test_an_identity_without_rights_on_leases_fails_at_start(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(apiserver.dralloc_kubeconfig)
        try:
            elector = LeaderElector(client, _config(namespace, "lock", "a"))
            with pytest.raises(LeaseForbidden, match=f"Lease {namespace}/lock"):
                await elector.run(lambda: None, lambda: None)
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_the_default_configuration_is_kube_schedulers() -> None:
    config = LeaderElectionConfig(identity=default_identity())
    assert (config.namespace, config.name) == ("kube-system", "dralloc")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    host, _, suffix = config.identity.rpartition("_")
    assert host and uuid.UUID(suffix).version == 4


def test_timings_that_let_two_leaders_overlap_are_refused() -> None:
    with pytest.raises(InputError) as err:
        LeaderElectionConfig(identity="a", lease_duration=10, renew_deadline=10, retry_period=9)
    text = str(err.value)
    assert "leaseDuration: must be greater than renewDeadline" in text
    assert "renewDeadline: must be greater than 1.2 * retryPeriod" in text


def test_micro_time_is_utc_with_six_fraction_digits() -> None:
    moment = datetime(2026, 12, 7, 4, 4, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert micro_time(moment) == "2026-12-07T03:04:05.123456Z"
    assert micro_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"
