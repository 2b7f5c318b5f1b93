"""Kueue v0.17's waitForPodsReady for the queue controller: the configuration (read from a
Kueue `Configuration` file), the PodsReady condition, the PodsReadyTimeout eviction with its
requeue backoff, deactivation past the retry limit, and what blockAdmission blocks.

What Kueue does, and where this module does it (the controller calls these once per pass):

1. the job reconciler sets `PodsReady` on every Workload of a job (`pods_ready_condition`):
   False with reason WaitForStart until the Workload is admitted and all its pods are ready
   or succeeded (`is_pods_ready`: a Job's `ready + succeeded + uncounted succeeded` reach
   `min(parallelism, completions)`; a JobSet's replicated jobs' `ready + succeeded` reach
   the sum of their replicas), then True with reason Started; once True, a job that loses a
   pod goes False with reason WaitForRecovery, and True again with reason Recovered. The
   condition is rewritten only when its status or reason changes;
2. the Workload controller times out an admitted, active, not evicted Workload that is not
   PodsReady (`timed_out`): `timeout` after its Admitted condition's transition (reason
   WaitForStart), or `recoveryTimeout` after PodsReady went False with WaitForRecovery. If
   `requeueState.count + 1` exceeds `backoffLimitCount` it gets DeactivationTarget=True
   (RequeuingLimitExceeded); otherwise it is evicted (Evicted=True, reason PodsReadyTimeout,
   "Exceeded the PodsReady timeout ns/name") and `requeueState` gets `count + 1` and
   `requeueAt = now + backoff` (`backoff`: `base * 2^(count-1)`, from the second step capped
   at `backoffMaxSeconds`, times 1 + U[0,1) * 0.0001, Kueue's jitter: under a millisecond
   per 10 s, lost when the instant is written in whole seconds);
3. the eviction then runs as any other (`queuestop`): the job stopped, and once it has no
   active pods the quota released with Requeued=False, reason PodsReadyTimeout;
4. such a Workload is not queued while `requeueAt` is in the future (`in_backoff`); after
   it, `requeueAt` is cleared and Requeued=True with reason BackoffFinished
   (`finish_backoff`), and it queues again;
5. a Workload with DeactivationTarget=True gets `spec.active: false`; an inactive Workload
   not yet evicted is evicted with reason DeactivatedDueToRequeuingLimitExceeded ("The
   workload is deactivated due to exceeding the maximum number of re-queuing retries"),
   the DeactivationTarget condition and `requeueState` dropped (`deactivate`); its job is
   stopped and it is never queued again until someone sets `spec.active: true` (then
   Requeued=True, reason Reactivated, for a Workload whose Requeued reason is
   Deactivated);
6. with `blockAdmission`, while any Workload holding quota is not PodsReady=True (evicted
   ones included, as Kueue's cache counts them until their quota is released), the
   scheduler admits nothing: the head it would admit gets QuotaReserved=False, reason
   Waiting, "waiting for all admitted workloads to be in PodsReady condition"
   (`WAITING_REASON`, `WAITING_MESSAGE`), and is admitted by the first pass after they are.

`requeuingStrategy.timestamp: Eviction` (Kueue's default) orders a Workload evicted by
PodsReadyTimeout by its eviction's time in its queue (`queuewaiting.PodsReadyWaiting.
queue_order`), `Creation` by its creation.

Departure, stated: a Workload in its backoff is left out of the queue, so a ClusterQueue's
`pendingWorkloads` does not count it (Kueue counts it among the inadmissible ones).

Pure computation on Workloads and wire-form jobs; the controller does the writes. Time
comes in as `now`, randomness from the `random.Random` passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from dralloc.api.validation.times import format_time, parse_time
from dralloc.errors import InputError, Problem
from dralloc.queueing import Workload
from dralloc.queueing.objects import Condition
from dralloc.scheduler.profiles import parse_duration

KubeDict = dict[str, Any]

PODS_READY = "PodsReady"
QUOTA_RESERVED = "QuotaReserved"
ADMITTED = "Admitted"
EVICTED = "Evicted"
REQUEUED = "Requeued"
DEACTIVATION_TARGET = "DeactivationTarget"
WAIT_FOR_START = "WaitForStart"
WAIT_FOR_RECOVERY = "WaitForRecovery"
STARTED = "Started"
RECOVERED = "Recovered"
PODS_READY_TIMEOUT = "PodsReadyTimeout"
BACKOFF_FINISHED = "BackoffFinished"
DEACTIVATED = "Deactivated"
REACTIVATED = "Reactivated"
REQUEUING_LIMIT_EXCEEDED = "RequeuingLimitExceeded"
WAITING_REASON = "Waiting"
WAITING_MESSAGE = "waiting for all admitted workloads to be in PodsReady condition"
NOT_READY_MESSAGE = "Not all pods are ready or succeeded"
RECOVERY_MESSAGE = "At least one pod has failed, waiting for recovery"
READY_MESSAGE = "All pods reached readiness and the workload is running"
# Kueue's requeue backoff jitter (pkg/controller/core/core.go).
BACKOFF_JITTER = 0.0001
CONFIG_KIND = "Configuration"
CONFIG_API_VERSIONS = ("config.kueue.x-k8s.io/v1beta2", "config.kueue.x-k8s.io/v1beta1")
TIMESTAMPS = ("Creation", "Eviction")


@dataclass(frozen=True)
class WaitForPodsReady:
    """Kueue's `waitForPodsReady` stanza, defaulted as Kueue defaults it.

    >>> WaitForPodsReady(timeout=300).backoff_base_seconds
    60
    """

    timeout: float
    """Seconds an admitted Workload has to become PodsReady (required)."""
    block_admission: bool = False
    """Admit nothing while a Workload holding quota is not PodsReady (v1beta2 default
    false; v1beta1's default is `enable`, so true)."""
    recovery_timeout: float | None = None
    """Seconds a running Workload that lost a pod has to recover; None: the timeout's value
    (Kueue's default); 0 turns the check off."""
    timestamp: str = "Eviction"
    """requeuingStrategy.timestamp: Eviction or Creation (see the module's departure)."""
    backoff_limit_count: int | None = None
    """Requeues before deactivation; None: requeued forever."""
    backoff_base_seconds: int = 60
    backoff_max_seconds: int = 3600

    @property
    def recovery(self) -> float | None:
        """The recovery timeout in force, None when off (Kueue: only when > 0)."""
        value = self.timeout if self.recovery_timeout is None else self.recovery_timeout
        return value if value > 0 else None


# ------------------------------------------------------------------- configuration


def load_wait_for_pods_ready(path: Path) -> WaitForPodsReady | None:
    """The `waitForPodsReady` stanza of the Kueue Configuration file at `path` (None when
    it has none, or v1beta1's `enable` is false). Every problem at once, as an InputError
    naming the file and field."""
    name = str(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError([Problem(name, "", "", f"cannot read: {err.strerror}")]) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError([Problem(name, "", "", f"not YAML: {err}")]) from None
    return parse_wait_for_pods_ready(doc, name)


def _seconds(raw: object, field: str, problems: list[Problem], file: str) -> float | None:
    if not isinstance(raw, str):
        problems.append(Problem(file, CONFIG_KIND, field, f"expected a duration, got {raw!r}"))
        return None
    negative = raw.startswith("-")
    value = parse_duration(raw.lstrip("+-"))
    if value is None:
        message = f"invalid duration {raw!r} (expected e.g. 30s, 5m, 1h30m)"
        problems.append(Problem(file, CONFIG_KIND, field, message))
        return None
    return -value if negative else value


def _int(raw: object, field: str, problems: list[Problem], file: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.append(Problem(file, CONFIG_KIND, field, f"expected an integer, got {raw!r}"))
        return None
    if raw < 0:
        problems.append(
            Problem(file, CONFIG_KIND, field, f"must be greater than or equal to 0, got {raw}")
        )
        return None
    return raw


def parse_wait_for_pods_ready(doc: object, file: str) -> WaitForPodsReady | None:
    """`load_wait_for_pods_ready` on a decoded document: Kueue's defaults and validation
    (`timeout` required and > 0, durations and counts not negative, `timestamp` Creation
    or Eviction, unknown fields refused)."""
    if not isinstance(doc, dict):
        raise InputError([Problem(file, "", "", "expected a Kueue Configuration object")])
    problems: list[Problem] = []
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind != CONFIG_KIND:
        problems.append(Problem(file, "", "kind", f"expected {CONFIG_KIND}, got {kind!r}"))
    if api_version not in CONFIG_API_VERSIONS:
        wanted = " or ".join(CONFIG_API_VERSIONS)
        problems.append(Problem(file, "", "apiVersion", f"expected {wanted}, got {api_version!r}"))
    if problems:
        raise InputError(problems)
    stanza = doc.get("waitForPodsReady")
    if stanza is None:
        return None
    base = "waitForPodsReady"
    if not isinstance(stanza, dict):
        raise InputError([Problem(file, CONFIG_KIND, base, "expected an object")])
    v1beta1 = api_version == CONFIG_API_VERSIONS[1]
    known = {"timeout", "blockAdmission", "requeuingStrategy", "recoveryTimeout"}
    if v1beta1:
        known.add("enable")
    for key in sorted(set(stanza) - known):
        problems.append(Problem(file, CONFIG_KIND, f"{base}.{key}", "unknown field"))
    enable = stanza.get("enable", False)
    if v1beta1 and not isinstance(enable, bool):
        problems.append(
            Problem(file, CONFIG_KIND, f"{base}.enable", f"expected true or false, got {enable!r}")
        )
    block = stanza.get("blockAdmission")
    if block is not None and not isinstance(block, bool):
        message = f"expected true or false, got {block!r}"
        problems.append(Problem(file, CONFIG_KIND, f"{base}.blockAdmission", message))
        block = None
    timeout: float | None = None
    if "timeout" in stanza:
        timeout = _seconds(stanza["timeout"], f"{base}.timeout", problems, file)
    elif v1beta1:
        timeout = 300.0  # v1beta1's defaultPodsReadyTimeout
    recovery: float | None = None
    if stanza.get("recoveryTimeout") is not None:
        recovery = _seconds(stanza["recoveryTimeout"], f"{base}.recoveryTimeout", problems, file)
        if recovery is not None and recovery < 0:
            message = f"must be greater than or equal to 0, got {stanza['recoveryTimeout']}"
            problems.append(Problem(file, CONFIG_KIND, f"{base}.recoveryTimeout", message))
    strategy = stanza.get("requeuingStrategy") or {}
    path = f"{base}.requeuingStrategy"
    if not isinstance(strategy, dict):
        problems.append(Problem(file, CONFIG_KIND, path, "expected an object"))
        strategy = {}
    known_strategy = {"timestamp", "backoffLimitCount", "backoffBaseSeconds", "backoffMaxSeconds"}
    for key in sorted(set(strategy) - known_strategy):
        problems.append(Problem(file, CONFIG_KIND, f"{path}.{key}", "unknown field"))
    timestamp = strategy.get("timestamp") or "Eviction"
    if timestamp not in TIMESTAMPS:
        message = f'supported values: "Creation", "Eviction", got {timestamp!r}'
        problems.append(Problem(file, CONFIG_KIND, f"{path}.timestamp", message))
    limit = _int(strategy.get("backoffLimitCount"), f"{path}.backoffLimitCount", problems, file)
    base_s = _int(strategy.get("backoffBaseSeconds"), f"{path}.backoffBaseSeconds", problems, file)
    max_s = _int(strategy.get("backoffMaxSeconds"), f"{path}.backoffMaxSeconds", problems, file)
    enabled = enable is True if v1beta1 else True
    if enabled and timeout is not None:
        if timeout == 0:
            problems.append(Problem(file, CONFIG_KIND, f"{base}.timeout", "must be specified"))
        elif timeout < 0:
            message = f"must be greater than or equal to 0, got {stanza['timeout']}"
            problems.append(Problem(file, CONFIG_KIND, f"{base}.timeout", message))
    elif enabled and "timeout" not in stanza:
        problems.append(Problem(file, CONFIG_KIND, f"{base}.timeout", "must be specified"))
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.field))
    if not enabled:
        return None
    assert timeout is not None
    return WaitForPodsReady(
        timeout=timeout,
        # Kueue: v1beta2 defaults blockAdmission to false, v1beta1 to `enable`.
        block_admission=block if block is not None else v1beta1,
        recovery_timeout=recovery,
        timestamp=str(timestamp),
        backoff_limit_count=limit,
        # Kueue's cmp.Or: 0 means unset, so the default.
        backoff_base_seconds=base_s or 60,
        backoff_max_seconds=max_s or 3600,
    )


# ------------------------------------------------------------------- the condition


def is_pods_ready(job: KubeDict) -> bool:
    """Kueue's `PodsReady` of a Job or JobSet (module docstring, point 1)."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    if job.get("kind") == "JobSet":
        replicas = sum(
            int(r.get("replicas", 1) or 0)
            for r in spec.get("replicatedJobs") or []
            if isinstance(r, dict)
        )
        ready = sum(
            int(r.get("ready") or 0) + int(r.get("succeeded") or 0)
            for r in status.get("replicatedJobsStatus") or []
            if isinstance(r, dict)
        )
        return replicas == ready
    parallelism = spec.get("parallelism")
    count = 1 if parallelism is None else int(parallelism)
    completions = spec.get("completions")
    if completions is not None and int(completions) < count:
        count = int(completions)
    uncounted = (status.get("uncountedTerminatedPods") or {}).get("succeeded") or []
    done = int(status.get("succeeded") or 0) + int(status.get("ready") or 0) + len(uncounted)
    return done >= count


def _is_true(workload: Workload, type_: str) -> bool:
    found = workload.condition(type_)
    return found is not None and found.status == "True"


def pods_ready_condition(workload: Workload, job: KubeDict, now: datetime) -> Condition:
    """Kueue's `generatePodsReadyCondition` (module docstring, point 1)."""

    def made(status: str, reason: str, message: str) -> Condition:
        return Condition(
            type=PODS_READY,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=format_time(now),
            observed_generation=workload.metadata.generation or None,
        )

    if not _is_true(workload, ADMITTED):
        return made("False", WAIT_FOR_START, NOT_READY_MESSAGE)
    current = workload.condition(PODS_READY)
    if is_pods_ready(job):
        recovering = current is not None and current.reason in (WAIT_FOR_RECOVERY, RECOVERED)
        return made("True", RECOVERED if recovering else STARTED, READY_MESSAGE)
    if current is not None and (current.status == "True" or current.reason == WAIT_FOR_RECOVERY):
        return made("False", WAIT_FOR_RECOVERY, RECOVERY_MESSAGE)
    return made("False", WAIT_FOR_START, NOT_READY_MESSAGE)


def put_condition(workload: Workload, condition: Condition) -> bool:
    """metav1's SetStatusCondition (the transition time moves only with the status); False
    when the Workload already has this type with this status and reason (Kueue's
    `HasConditionWithTypeAndReason`: nothing written)."""
    conditions = workload.status.conditions
    for i, existing in enumerate(conditions):
        if existing.type == condition.type:
            same = (existing.status, existing.reason, existing.message)
            if same == (condition.status, condition.reason, condition.message):
                return False
            if existing.status == condition.status:
                condition.last_transition_time = existing.last_transition_time
            conditions[i] = condition
            return True
    conditions.append(condition)
    return True


def remove_condition(workload: Workload, type_: str) -> None:
    workload.status.conditions = [c for c in workload.status.conditions if c.type != type_]


# ------------------------------------------------------------------- timeouts


def _since(condition: Condition | None) -> datetime | None:
    if condition is None or not condition.last_transition_time:
        return None
    return parse_time(condition.last_transition_time)


def not_ready_deadline(workload: Workload, config: WaitForPodsReady) -> tuple[str, datetime] | None:
    """Kueue's `admittedNotReadyWorkload`: (underlying cause, when the timeout runs out) for
    an admitted, active, not evicted Workload that is not PodsReady; None otherwise."""
    if not workload.spec.active or _is_true(workload, EVICTED):
        return None
    if not _is_true(workload, ADMITTED):
        return None
    ready = workload.condition(PODS_READY)
    if ready is not None and ready.status == "True":
        return None
    if ready is None or ready.reason in (WAIT_FOR_START, "PodsReady"):
        since = _since(workload.condition(ADMITTED))
        if since is None:
            return None
        return WAIT_FOR_START, since + timedelta(seconds=config.timeout)
    recovery = config.recovery
    if ready.reason == WAIT_FOR_RECOVERY and recovery is not None:
        since = _since(ready)
        if since is None:
            return None
        return WAIT_FOR_RECOVERY, since + timedelta(seconds=recovery)
    return None


def backoff(count: int, config: WaitForPodsReady, rng: random.Random) -> timedelta:
    """The wait before the `count`-th requeue (module docstring, point 2): Kueue's
    `wait.NewBackoff(base, max, 2, 0.0001).WaitTime(count)`."""
    base, cap = float(config.backoff_base_seconds), float(config.backoff_max_seconds)
    duration = base
    for _ in range(max(count, 1) - 1):
        duration = min(duration * 2, cap) if cap > 0 else duration * 2
    return timedelta(seconds=duration * (1 + rng.random() * BACKOFF_JITTER))


def requeue_at(state: KubeDict | None) -> datetime | None:
    stamp = (state or {}).get("requeueAt")
    return parse_time(stamp) if isinstance(stamp, str) else None


def in_backoff(state: KubeDict | None, now: datetime) -> bool:
    """Whether a Workload with this `status.requeueState` may not be queued yet (Kueue's
    `backoffWaitingTimeExpired` is false)."""
    at = requeue_at(state)
    return at is not None and now < at


def evict_for_timeout(
    workload: Workload,
    state: KubeDict | None,
    config: WaitForPodsReady,
    now: datetime,
    rng: random.Random,
) -> KubeDict | None:
    """Point 2 for a Workload whose deadline has passed: DeactivationTarget set (returns
    `state` unchanged) or Evicted=True PodsReadyTimeout (returns the new requeueState)."""
    count = int((state or {}).get("count") or 0)
    limit = config.backoff_limit_count
    generation = workload.metadata.generation or None
    if limit is not None and count + 1 > limit:
        put_condition(
            workload,
            Condition(
                type=DEACTIVATION_TARGET,
                status="True",
                reason=REQUEUING_LIMIT_EXCEEDED,
                message="exceeding the maximum number of re-queuing retries",
                last_transition_time=format_time(now),
                observed_generation=generation,
            ),
        )
        return state
    key = f"{workload.metadata.namespace}/{workload.metadata.name}"
    put_condition(
        workload,
        Condition(
            type=EVICTED,
            status="True",
            reason=PODS_READY_TIMEOUT,
            message=f"Exceeded the PodsReady timeout {key}",
            last_transition_time=format_time(now),
            observed_generation=generation,
        ),
    )
    new = dict(state or {})
    at = now + backoff(count + 1, config, rng)
    current = requeue_at(state)
    # Kueue's SetRequeueState never moves requeueAt earlier.
    if current is None or current < at:
        new["requeueAt"] = format_time(at)
    new["count"] = count + 1
    return new


def finish_backoff(workload: Workload, state: KubeDict | None, now: datetime) -> KubeDict | None:
    """Point 4 and the reactivation of point 5 for an active Workload: the requeueState to
    keep (requeueAt dropped once passed)."""
    requeued = workload.condition(REQUEUED)
    passed = state is not None and "requeueAt" in state and not in_backoff(state, now)
    if state is not None and passed and not workload.has_quota_reservation():
        state = {k: v for k, v in state.items() if k != "requeueAt"}
    if requeued is None or requeued.status != "False":
        return state
    generation = workload.metadata.generation or None
    if requeued.reason == DEACTIVATED:
        put_condition(
            workload,
            Condition(
                type=REQUEUED,
                status="True",
                reason=REACTIVATED,
                message="The workload was reactivated",
                last_transition_time=format_time(now),
                observed_generation=generation,
            ),
        )
    elif requeued.reason in (PODS_READY_TIMEOUT, "AdmissionCheck") and not in_backoff(state, now):
        if state is not None:
            state = {k: v for k, v in state.items() if k != "requeueAt"}
        put_condition(
            workload,
            Condition(
                type=REQUEUED,
                status="True",
                reason=BACKOFF_FINISHED,
                message="The workload backoff was finished",
                last_transition_time=format_time(now),
                observed_generation=generation,
            ),
        )
    return state


def deactivate(workload: Workload, now: datetime) -> bool:
    """Point 5's eviction of an inactive Workload not yet evicted; True when it changed."""
    if workload.spec.active:
        return False
    target = workload.condition(DEACTIVATION_TARGET)
    remove_condition(workload, DEACTIVATION_TARGET)
    if _is_true(workload, EVICTED):
        return target is not None
    reason, message = DEACTIVATED, "The workload is deactivated"
    if target is not None:
        reason = f"{DEACTIVATED}DueTo{target.reason}"
        message = f"{message} due to {target.message}"
    put_condition(
        workload,
        Condition(
            type=EVICTED,
            status="True",
            reason=reason,
            message=message,
            last_transition_time=format_time(now),
            observed_generation=workload.metadata.generation or None,
        ),
    )
    return True


def blocks_admission(workloads: dict[str, Workload]) -> bool:
    """Point 6: a Workload holds quota and is not PodsReady=True."""
    return any(
        w.has_quota_reservation() and not _is_true(w, PODS_READY) for w in workloads.values()
    )
