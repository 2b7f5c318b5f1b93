"""Kueue's waitForPodsReady as `kube/controllers/queueready.py` computes it: the
configuration's defaults and validation, a job's PodsReady, the condition's reasons, the
timeout deadline, the requeue backoff and deactivation (the live controller is tested in
tests/k8s/test_live_queue_podsready.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dralloc.errors import InputError
from dralloc.kube.controllers.queueready import (
    WaitForPodsReady,
    backoff,
    blocks_admission,
    deactivate,
    evict_for_timeout,
    finish_backoff,
    is_pods_ready,
    not_ready_deadline,
    parse_wait_for_pods_ready,
    pods_ready_condition,
    put_condition,
)
from dralloc.queueing import Workload
from dralloc.queueing.objects import Condition, ObjectMeta

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
V1BETA2 = "config.kueue.x-k8s.io/v1beta2"


def config_doc(stanza: Any, api_version: str = V1BETA2) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "Configuration", "waitForPodsReady": stanza}


def test_a_v1beta2_stanza_is_on_by_its_presence_with_kueues_defaults() -> None:
    got = parse_wait_for_pods_ready(config_doc({"timeout": "5m"}), "k.yaml")
    assert got == WaitForPodsReady(timeout=300)
    assert got is not None and got.recovery == 300
    assert got.backoff_base_seconds == 60 and got.backoff_max_seconds == 3600
    assert got.block_admission is False and got.backoff_limit_count is None
    assert parse_wait_for_pods_ready({"apiVersion": V1BETA2, "kind": "Configuration"}, "k") is None


def test_v1beta1_needs_enable_and_defaults_block_admission_to_it() -> None:
    v1beta1 = "config.kueue.x-k8s.io/v1beta1"
    assert parse_wait_for_pods_ready(config_doc({"timeout": "1m"}, v1beta1), "k") is None
    got = parse_wait_for_pods_ready(config_doc({"enable": True}, v1beta1), "k")
    assert got == WaitForPodsReady(timeout=300, block_admission=True)


def test_a_zero_recovery_timeout_turns_recovery_off() -> None:
    got = parse_wait_for_pods_ready(
        config_doc({"timeout": "10s", "recoveryTimeout": "0s"}), "k.yaml"
    )
    assert got is not None and got.recovery is None


@pytest.mark.parametrize(
    ("stanza", "line"),
    [
        ({}, "k.yaml: Configuration: waitForPodsReady.timeout: must be specified"),
        (
            {"timeout": "-1s"},
            "k.yaml: Configuration: waitForPodsReady.timeout: must be greater than or equal "
            "to 0, got -1s",
        ),
        (
            {"timeout": "1s", "requeuingStrategy": {"backoffBaseSeconds": "60"}},
            "k.yaml: Configuration: waitForPodsReady.requeuingStrategy.backoffBaseSeconds: "
            "expected an integer, got '60'",
        ),
        (
            {"timeout": "1s", "enable": True},
            "k.yaml: Configuration: waitForPodsReady.enable: unknown field",
        ),
    ],
)
def test_bad_stanzas_name_the_file_and_field(stanza: dict[str, Any], line: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_wait_for_pods_ready(config_doc(stanza), "k.yaml")
    assert [str(p) for p in caught.value.problems] == [line]


def test_backoff_doubles_from_the_base_then_stops_at_the_max() -> None:
    config = WaitForPodsReady(timeout=1, backoff_base_seconds=10, backoff_max_seconds=45)
    rng = random.Random(1)
    waits = [backoff(n, config, rng).total_seconds() for n in (1, 2, 3, 4, 5)]
    # Kueue's jitter adds under 0.01% of each.
    for got, want in zip(waits, (10, 20, 40, 45, 45), strict=True):
        assert want <= got < want * 1.0001


def job(parallelism: int, completions: int | None, **status: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"parallelism": parallelism}
    if completions is not None:
        spec["completions"] = completions
    return {"kind": "Job", "spec": spec, "status": status}


def test_a_job_is_pods_ready_when_ready_and_succeeded_reach_its_pod_count() -> None:
    assert not is_pods_ready(job(4, 4, ready=3))
    assert is_pods_ready(job(4, 4, ready=3, succeeded=1))
    assert is_pods_ready(job(4, 2, ready=2))  # completions below parallelism
    assert is_pods_ready(job(2, 2, ready=1, uncountedTerminatedPods={"succeeded": ["u"]}))
    jobset = {
        "kind": "JobSet",
        "spec": {"replicatedJobs": [{"name": "a", "replicas": 2}, {"name": "b"}]},
        "status": {"replicatedJobsStatus": [{"name": "a", "ready": 2}, {"name": "b"}]},
    }
    assert not is_pods_ready(jobset)
    jobset["status"]["replicatedJobsStatus"][1]["succeeded"] = 1
    assert is_pods_ready(jobset)


def admitted(at: datetime = NOW) -> Workload:
    workload = Workload(metadata=ObjectMeta(name="w", namespace="ns"))
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for kind in ("QuotaReserved", "Admitted"):
        workload.status.conditions.append(
            Condition(type=kind, status="True", reason=kind, last_transition_time=stamp)
        )
    return workload


def test_pods_ready_goes_started_then_wait_for_recovery_then_recovered() -> None:
    workload = admitted()
    reasons = []
    for ready in (0, 2, 1, 1, 2):
        condition = pods_ready_condition(workload, job(2, 2, ready=ready), NOW)
        put_condition(workload, condition)
        reasons.append((condition.status, condition.reason))
    assert reasons == [
        ("False", "WaitForStart"),
        ("True", "Started"),
        ("False", "WaitForRecovery"),
        ("False", "WaitForRecovery"),
        ("True", "Recovered"),
    ]


def test_the_timeout_counts_from_admission_and_recovery_from_the_lost_pod() -> None:
    config = WaitForPodsReady(timeout=30, recovery_timeout=10)
    workload = admitted()
    assert not_ready_deadline(workload, config) == ("WaitForStart", NOW + timedelta(seconds=30))
    put_condition(workload, pods_ready_condition(workload, job(1, 1, ready=1), NOW))
    assert not_ready_deadline(workload, config) is None
    later = NOW + timedelta(minutes=5)
    put_condition(workload, pods_ready_condition(workload, job(1, 1), later))
    assert not_ready_deadline(workload, config) == (
        "WaitForRecovery",
        later + timedelta(seconds=10),
    )
    assert blocks_admission({"ns/w": workload})


def test_a_timeout_evicts_with_a_growing_requeue_state_then_deactivates_at_the_limit() -> None:
    config = WaitForPodsReady(timeout=1, backoff_limit_count=2, backoff_base_seconds=5)
    workload = admitted()
    rng = random.Random(3)
    state = evict_for_timeout(workload, None, config, NOW, rng)
    assert state == {"count": 1, "requeueAt": "2026-12-07T12:00:05Z"}
    evicted = workload.condition("Evicted")
    assert evicted is not None and evicted.reason == "PodsReadyTimeout"
    assert evicted.message == "Exceeded the PodsReady timeout ns/w"
    state = evict_for_timeout(admitted(), state, config, NOW, rng)
    assert state == {"count": 2, "requeueAt": "2026-12-07T12:00:10Z"}
    last = admitted()
    assert evict_for_timeout(last, state, config, NOW, rng) == state
    target = last.condition("DeactivationTarget")
    assert target is not None and target.reason == "RequeuingLimitExceeded"
    assert last.condition("Evicted") is None
    last.spec.active = False
    assert deactivate(last, NOW)
    evicted = last.condition("Evicted")
    assert evicted is not None
    assert evicted.reason == "DeactivatedDueToRequeuingLimitExceeded"
    assert evicted.message == (
        "The workload is deactivated due to exceeding the maximum number of re-queuing retries"
    )
    assert last.condition("DeactivationTarget") is None


def test_the_backoff_finishes_only_at_requeue_at() -> None:
    workload = Workload(metadata=ObjectMeta(name="w", namespace="ns"))
    workload.status.conditions.append(
        Condition(type="Requeued", status="False", reason="PodsReadyTimeout")
    )
    state = {"count": 1, "requeueAt": "2026-12-07T12:00:05Z"}
    assert finish_backoff(workload, state, NOW) == state
    requeued = workload.condition("Requeued")
    assert requeued is not None and requeued.status == "False"
    assert finish_backoff(workload, state, NOW + timedelta(seconds=5)) == {"count": 1}
    requeued = workload.condition("Requeued")
    assert requeued is not None
    assert (requeued.status, requeued.reason) == ("True", "BackoffFinished")


QUEUES = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: cq}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: default
      resources: [{name: cpu, nominalQuota: "1"}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: lq, namespace: ns}
spec: {clusterQueue: cq}
"""


def pending(name: str, created: str) -> str:
    return f"""---
apiVersion: kueue.x-k8s.io/v1beta2
kind: Workload
metadata: {{name: {name}, namespace: ns, creationTimestamp: "{created}"}}
spec:
  queueName: lq
  podSets:
  - name: main
    count: 1
    template:
      spec:
        containers:
        - name: c
          image: busybox
          resources: {{requests: {{cpu: "1"}}}}
"""


@pytest.mark.parametrize(("timestamp", "head"), [("Eviction", "ns/b"), ("Creation", "ns/a")])
def test_a_timed_out_workload_queues_by_its_eviction_time_under_the_eviction_strategy(
    tmp_path: Any, timestamp: str, head: str
) -> None:
    from dralloc.kube.controllers.queuewaiting import PodsReadyWaiting
    from dralloc.queueing import QueueManager, QueueState, read_queue_files

    path = tmp_path / "kueue.yaml"
    path.write_text(
        QUEUES + pending("a", "2026-12-07T10:00:00Z") + pending("b", "2026-12-07T10:05:00Z")
    )
    inputs = read_queue_files([str(path)])
    a = inputs.workloads["ns/a"]
    a.status.conditions.append(
        Condition(
            type="Evicted",
            status="True",
            reason="PodsReadyTimeout",
            last_transition_time="2026-12-07T10:10:00Z",
        )
    )
    config = WaitForPodsReady(timeout=1, timestamp=timestamp)
    waiting = PodsReadyWaiting(None, None, config, random.Random(1), lambda _: None, datetime.now)  # type: ignore[arg-type]
    manager = QueueManager(QueueState.build(inputs))
    with waiting.queue_order(inputs.workloads.values()):
        manager.add_all(inputs.workloads.values())
    assert [h.key for h in manager.heads()] == [head]
    assert a.metadata.creation_timestamp == "2026-12-07T10:00:00Z"
