"""Workload controllers: the ReplicaSets, StatefulSets, Jobs and pods that Deployments,
ReplicaSets, StatefulSets, Jobs, JobSets and LeaderWorkerSets become, with upstream's names,
labels, annotations and owner references."""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import Pod
from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.api.workloads import WORKLOAD_KINDS, Job, Workload
from dralloc.controllers.resourceclaim import NAME_ALPHABET
from dralloc.controllers.workloads import WorkloadExpansion, WorkloadPod, expand_workloads
from dralloc.controllers.workloads.hashing import pod_template_hash

RANDOM_SUFFIX = f"[{NAME_ALPHABET}]{{5}}"
HASH = "[456789bcdf]{1,10}"  # SafeEncodeString of a decimal uint32


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Quantity:
        return parse_quantity(value)
    raise NotImplementedError(kind)


def load(text: str) -> list[Any]:
    """Manifests as users write them: YAML documents decoded into the typed structs."""
    objects: list[Any] = []
    for doc in yaml.safe_load_all(text):
        kind = doc["kind"]
        target = Pod if kind == "Pod" else WORKLOAD_KINDS[kind][0]
        objects.append(msgspec.convert(doc, target, dec_hook=_dec_hook))
    return objects


def expand(text: str, seed: int = 0) -> WorkloadExpansion:
    objects = load(text)
    workloads: list[Workload] = [o for o in objects if not isinstance(o, Pod)]
    pods = [o for o in objects if isinstance(o, Pod)]
    return expand_workloads(workloads, random.Random(seed), pods)


def names(entries: tuple[WorkloadPod, ...] | list[WorkloadPod]) -> list[str]:
    return [e.pod.metadata.name for e in entries]


def owners(entry: WorkloadPod) -> list[str]:
    return [str(ref) for ref in entry.owners]


# ------------------------------------------------------------------------------ Deployment

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ml
  annotations:
    team: vision
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        prometheus.io/scrape: "true"
    spec:
      containers:
      - name: server
        image: nginx:1.27
        resources:
          requests:
            cpu: 500m
      resourceClaims:
      - name: gpu
        resourceClaimTemplateName: one-gpu
"""


def test_a_deployment_makes_one_replicaset_named_after_the_pod_template_hash() -> None:
    result = expand(DEPLOYMENT)
    (rs,) = result.replica_sets
    hash_ = rs.metadata.labels["pod-template-hash"]
    assert re.fullmatch(HASH, hash_)
    assert rs.metadata.name == f"web-{hash_}"
    assert rs.metadata.namespace == "ml"
    assert rs.spec.replicas == 3
    assert rs.spec.selector is not None
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": hash_}
    assert rs.spec.template.metadata.labels == {"app": "web", "pod-template-hash": hash_}
    assert rs.metadata.annotations == {
        "team": "vision",
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",  # 3 + ceil(25% of 3)
    }
    (ref,) = rs.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.name) == ("apps/v1", "Deployment", "web")
    assert ref.controller and ref.block_owner_deletion and ref.uid


def test_the_replicaset_makes_pods_with_generated_names_template_labels_and_an_owner() -> None:
    result = expand(DEPLOYMENT)
    (rs,) = result.replica_sets
    assert len(result.pods) == 3
    for entry in result.pods:
        meta = entry.pod.metadata
        assert meta.generate_name == f"{rs.metadata.name}-"
        assert re.fullmatch(f"{rs.metadata.name}-{RANDOM_SUFFIX}", meta.name)
        assert meta.namespace == "ml"
        assert meta.labels == rs.spec.template.metadata.labels
        assert meta.annotations == {"prometheus.io/scrape": "true"}
        (ref,) = meta.owner_references
        assert (ref.kind, ref.name, ref.uid, ref.controller) == (
            "ReplicaSet",
            rs.metadata.name,
            rs.metadata.uid,
            True,
        )
        assert uuid.UUID(meta.uid).version == 4
        assert owners(entry) == [f"ReplicaSet ml/{rs.metadata.name}", "Deployment ml/web"]
        # Claims from templates are the ResourceClaim controller's business, later.
        assert [c.resource_claim_template_name for c in entry.pod.spec.resource_claims] == [
            "one-gpu"
        ]
        assert str(entry.pod.spec.containers[0].resources.requests["cpu"]) == "500m"
    assert len(set(names(result.pods))) == 3


def test_the_same_seed_gives_the_same_objects_and_another_seed_other_names() -> None:
    first, again, other = expand(DEPLOYMENT, 1), expand(DEPLOYMENT, 1), expand(DEPLOYMENT, 2)
    assert first == again
    assert names(first.pods) != names(other.pods)
    # The ReplicaSet's name depends on the template only.
    assert first.replica_sets[0].metadata.name == other.replica_sets[0].metadata.name


def test_the_pod_template_hash_follows_the_template_and_the_collision_count() -> None:
    (deployment,) = load(DEPLOYMENT)
    template = deployment.spec.template
    assert pod_template_hash(template) == pod_template_hash(load(DEPLOYMENT)[0].spec.template)
    assert pod_template_hash(template) != pod_template_hash(template, collision_count=1)
    changed = load(DEPLOYMENT.replace("nginx:1.27", "nginx:1.28"))[0].spec.template
    assert pod_template_hash(template) != pod_template_hash(changed)


def _deployment_replicaset(result: WorkloadExpansion) -> str:
    return result.replica_sets[0].metadata.name


def test_a_deployment_with_its_replicaset_and_one_pod_creates_the_two_missing() -> None:
    rs_name = _deployment_replicaset(expand(DEPLOYMENT))
    hash_ = rs_name.removeprefix("web-")
    existing = f"""\
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {rs_name}
  namespace: ml
  uid: rs-uid
  labels: {{app: web, pod-template-hash: "{hash_}"}}
  annotations: {{deployment.kubernetes.io/revision: "1"}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: Deployment, name: web, uid: dep-uid, controller: true}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app: web, pod-template-hash: "{hash_}"}}
  template:
    metadata:
      labels: {{app: web, pod-template-hash: "{hash_}"}}
      annotations: {{prometheus.io/scrape: "true"}}
    spec:
      containers:
      - name: server
        image: nginx:1.27
        resources:
          requests:
            cpu: 500m
      resourceClaims:
      - name: gpu
        resourceClaimTemplateName: one-gpu
---
apiVersion: v1
kind: Pod
metadata:
  name: {rs_name}-abcde
  namespace: ml
  labels: {{app: web, pod-template-hash: "{hash_}"}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: {rs_name}, uid: rs-uid, controller: true}}
spec:
  nodeName: node-1
  containers: [{{name: server}}]
status: {{phase: Running}}
"""
    result = expand(
        DEPLOYMENT.replace("  namespace: ml\n", "  namespace: ml\n  uid: dep-uid\n", 1) + existing
    )
    (rs,) = result.replica_sets
    assert (rs.metadata.name, rs.metadata.uid, rs.spec.replicas) == (rs_name, "rs-uid", 3)
    assert len(result.pods) == 2
    assert names(result.existing) == [f"{rs_name}-abcde"]
    assert owners(result.existing[0]) == [f"ReplicaSet ml/{rs_name}", "Deployment ml/web"]
    assert [len(pods) for pods in result.by_owner().values()] == [3]


def test_a_cluster_dump_without_replicasets_reuses_the_one_its_pods_name() -> None:
    pods = "".join(
        f"""\
---
apiVersion: v1
kind: Pod
metadata:
  name: web-7c5ddbdf54-{suffix}
  namespace: ml
  labels: {{app: web, pod-template-hash: 7c5ddbdf54}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: web-7c5ddbdf54, uid: rs-1, controller: true}}
spec: {{containers: [{{name: server}}]}}
status: {{phase: Running}}
"""
        for suffix in ("aaaaa", "bbbbb")
    )
    result = expand(DEPLOYMENT + pods)
    (rs,) = result.replica_sets
    assert rs.metadata.name == "web-7c5ddbdf54"
    assert len(result.existing) == 2
    assert len(result.pods) == 1
    assert result.pods[0].pod.metadata.generate_name == "web-7c5ddbdf54-"
    assert "its pods are taken as the Deployment's current ReplicaSet" in result.notes[0].message


def test_a_replicaset_adopts_a_matching_orphan_and_counts_it() -> None:
    result = expand(
        """\
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cache, namespace: ml}
spec:
  replicas: 3
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: redis}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stray, namespace: ml, labels: {app: cache}}
spec: {containers: [{name: redis}]}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: ml, labels: {app: cache}}
spec: {containers: [{name: redis}]}
status: {phase: Succeeded}
"""
    )
    assert len(result.pods) == 2  # the finished pod does not count
    adopted = {e.pod.metadata.name: e for e in result.existing}
    assert adopted["stray"].adopted
    (ref,) = adopted["stray"].pod.metadata.owner_references
    assert (ref.kind, ref.name, ref.controller) == ("ReplicaSet", "cache", True)
    assert result.replica_sets == ()  # the input's ReplicaSet is not a created object


def test_surplus_pods_are_deleted_unscheduled_first() -> None:
    pods = "".join(
        f"""\
---
apiVersion: v1
kind: Pod
metadata:
  name: cache-{name}
  namespace: ml
  labels: {{app: cache}}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: cache, controller: true}}]
spec: {{nodeName: "{node}", containers: [{{name: redis}}]}}
status: {{phase: {phase}}}
"""
        for name, node, phase in (
            ("a", "n1", "Running"),
            ("b", "", "Pending"),
            ("c", "n2", "Running"),
        )
    )
    result = expand(
        """\
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cache, namespace: ml}
spec:
  replicas: 2
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: redis}]}
"""
        + pods
    )
    assert result.pods == ()
    assert names(result.deleted) == ["cache-b"]
    assert sorted(names(result.existing)) == ["cache-a", "cache-c"]


def test_a_rollout_ends_with_the_old_replicaset_s_pods_deleted() -> None:
    old = """\
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-old
  namespace: ml
  labels: {app: web, pod-template-hash: old}
  annotations: {deployment.kubernetes.io/revision: "4"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, controller: true}]
spec:
  replicas: 3
  selector: {matchLabels: {app: web, pod-template-hash: old}}
  template:
    metadata: {labels: {app: web, pod-template-hash: old}}
    spec: {containers: [{name: server, image: "nginx:1.26"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-old-aaaaa
  namespace: ml
  labels: {app: web, pod-template-hash: old}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-old, controller: true}]
spec: {containers: [{name: server}]}
status: {phase: Running}
"""
    result = expand(DEPLOYMENT + old)
    (rs,) = result.replica_sets
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "5"
    assert len(result.pods) == 3
    assert names(result.deleted) == ["web-old-aaaaa"]
    assert str(result.notes[0]) == "ReplicaSet ml/web-old: old: scaled to 0 replicas"


def test_a_paused_deployment_makes_no_replicaset() -> None:
    result = expand(DEPLOYMENT.replace("  replicas: 3\n", "  replicas: 3\n  paused: true\n"))
    assert (result.replica_sets, result.pods) == ((), ())
    assert result.notes[0].message.startswith("paused")


def test_a_selector_that_misses_the_template_labels_is_a_problem() -> None:
    result = expand(DEPLOYMENT.replace("      app: web\n  template", "      app: api\n  template"))
    assert result.pods == ()
    (problem,) = result.problems
    assert (problem.obj, problem.field) == ("Deployment ml/web", "spec.selector")


# ---------------------------------------------------------------------------- StatefulSet

STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: ml
spec:
  serviceName: db-headless
  replicas: 3
  ordinals:
    start: 1
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: postgres
        image: postgres:16
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"""


def test_a_statefulset_names_pods_by_ordinal_from_ordinals_start() -> None:
    result = expand(STATEFULSET)
    assert names(result.pods) == ["db-1", "db-2", "db-3"]
    for ordinal, entry in enumerate(result.pods, start=1):
        meta = entry.pod.metadata
        assert meta.labels["app"] == "db"
        assert meta.labels["statefulset.kubernetes.io/pod-name"] == f"db-{ordinal}"
        assert meta.labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert re.fullmatch(f"db-{HASH}", meta.labels["controller-revision-hash"])
        assert meta.generate_name == "db-"
        assert (entry.hostname, entry.subdomain) == (f"db-{ordinal}", "db-headless")
        (ref,) = meta.owner_references
        assert (ref.kind, ref.name) == ("StatefulSet", "db")
        assert owners(entry) == ["StatefulSet ml/db"]
    # OrderedReady (the default): each ordinal waits for the one before.
    assert [e.after for e in result.pods] == [(), ("db-1",), ("db-2",)]


def test_a_parallel_statefulset_creates_every_ordinal_at_once() -> None:
    result = expand(
        STATEFULSET.replace("  replicas: 3\n", "  replicas: 3\n  podManagementPolicy: Parallel\n")
    )
    assert [e.after for e in result.pods] == [(), (), ()]


def test_a_statefulset_keeps_its_pods_and_deletes_those_past_the_last_ordinal() -> None:
    pods = "".join(
        f"""\
---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: ml
  labels: {{app: db}}
  ownerReferences: [{{apiVersion: apps/v1, kind: StatefulSet, name: db, controller: true}}]
spec: {{containers: [{{name: postgres}}]}}
status: {{phase: Running}}
"""
        for name in ("db-2", "db-4")
    )
    result = expand(STATEFULSET + pods)
    assert names(result.pods) == ["db-1", "db-3"]
    assert names(result.existing) == ["db-2"]
    assert names(result.deleted) == ["db-4"]


# ------------------------------------------------------------------------------------ Job

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: train
  namespace: ml
spec:
  completions: 5
  parallelism: 2
  template:
    metadata:
      labels:
        app: train
    spec:
      containers:
      - name: trainer
        image: trainer:1
"""


def test_a_job_runs_min_of_parallelism_and_remaining_completions() -> None:
    result = expand(JOB)
    assert len(result.pods) == 2
    (note,) = result.notes
    assert str(note) == (
        "Job ml/train: 3 more pods once running ones succeed (completions 5, parallelism 2)"
    )
    for entry in result.pods:
        meta = entry.pod.metadata
        uid = meta.labels["batch.kubernetes.io/controller-uid"]
        assert meta.labels == {
            "app": "train",
            "job-name": "train",
            "batch.kubernetes.io/job-name": "train",
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
        }
        assert meta.generate_name == "train-"
        assert re.fullmatch(f"train-{RANDOM_SUFFIX}", meta.name)
        assert meta.finalizers == ["batch.kubernetes.io/job-tracking"]
        (ref,) = meta.owner_references
        assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("batch/v1", "Job", "train", uid)
        assert entry.hostname == ""


def test_an_indexed_job_creates_the_lowest_pending_indexes_with_index_names() -> None:
    result = expand(
        JOB.replace("  parallelism: 2\n", "  parallelism: 3\n  completionMode: Indexed\n")
    )
    assert len(result.pods) == 3
    for index, entry in enumerate(result.pods):
        meta = entry.pod.metadata
        assert meta.generate_name == f"train-{index}-"
        assert re.fullmatch(f"train-{index}-{RANDOM_SUFFIX}", meta.name)
        assert meta.annotations == {"batch.kubernetes.io/job-completion-index": str(index)}
        assert meta.labels["batch.kubernetes.io/job-completion-index"] == str(index)
        assert entry.hostname == f"train-{index}"


def test_an_indexed_job_counts_completed_indexes_and_running_pods() -> None:
    job = JOB.replace("  parallelism: 2\n", "  parallelism: 3\n  completionMode: Indexed\n")
    job = job.replace("  namespace: ml\n", "  namespace: ml\n  uid: job-1\n", 1)
    job += "status: {completedIndexes: '0,2'}\n"
    job += """\
---
apiVersion: v1
kind: Pod
metadata:
  name: train-1-xxxxx
  namespace: ml
  labels: {batch.kubernetes.io/controller-uid: job-1}
  annotations: {batch.kubernetes.io/job-completion-index: "1"}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: train, uid: job-1, controller: true}]
spec: {containers: [{name: trainer}]}
status: {phase: Running}
"""
    result = expand(job)
    # 5 completions, 2 done, index 1 running: 2 more of parallelism 3, the lowest pending.
    assert [e.pod.metadata.generate_name for e in result.pods] == ["train-3-", "train-4-"]
    assert names(result.existing) == ["train-1-xxxxx"]


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        ("", 1),  # neither set: both default to 1
        ("  parallelism: 3\n", 3),  # a work queue: parallelism pods
        ("  completions: 2\n", 1),  # parallelism defaults to 1
        ("  completions: 2\n  parallelism: 8\n", 2),
    ],
)
def test_job_defaults_decide_how_many_pods_run(spec: str, count: int) -> None:
    text = JOB.replace("  completions: 5\n  parallelism: 2\n", spec)
    assert len(expand(text).pods) == count


def test_a_suspended_job_creates_nothing_and_deletes_its_running_pods() -> None:
    job = JOB.replace("  completions: 5\n", "  completions: 5\n  suspend: true\n")
    job = job.replace("  namespace: ml\n", "  namespace: ml\n  uid: job-1\n", 1)
    job += """\
---
apiVersion: v1
kind: Pod
metadata:
  name: train-abcde
  namespace: ml
  labels: {batch.kubernetes.io/controller-uid: job-1}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: train, uid: job-1, controller: true}]
spec: {containers: [{name: trainer}]}
status: {phase: Running}
"""
    result = expand(job)
    assert result.pods == ()
    assert names(result.deleted) == ["train-abcde"]
    assert str(result.notes[0]) == "Job ml/train: suspended: no pods are created"


def test_a_job_managed_by_another_controller_is_left_alone() -> None:
    result = expand(
        JOB.replace(
            "  completions: 5\n", "  completions: 5\n  managedBy: kueue.x-k8s.io/multikueue\n"
        )
    )
    assert result.pods == ()


# --------------------------------------------------------------------------------- JobSet

JOBSET = """\
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata:
  name: pretrain
  namespace: ml
spec:
  replicatedJobs:
  - name: driver
    template:
      spec:
        template:
          spec:
            containers:
            - name: driver
              image: driver:1
  - name: workers
    replicas: 2
    template:
      metadata:
        labels:
          tier: worker
      spec:
        parallelism: 3
        completions: 3
        backoffLimit: 0
        template:
          metadata:
            labels:
              tier: worker
          spec:
            containers:
            - name: worker
              image: worker:1
            resourceClaims:
            - name: gpu
              resourceClaimTemplateName: eight-gpus
"""


def test_a_jobset_makes_replicas_jobs_per_replicated_job_with_jobset_labels() -> None:
    result = expand(JOBSET)
    assert [j.metadata.name for j in result.jobs] == [
        "pretrain-driver-0",
        "pretrain-workers-0",
        "pretrain-workers-1",
    ]
    workers = result.jobs[2]
    meta = workers.metadata
    assert meta.labels["tier"] == "worker"
    expected = {
        "jobset.sigs.k8s.io/jobset-name": "pretrain",
        "jobset.sigs.k8s.io/replicatedjob-name": "workers",
        "jobset.sigs.k8s.io/replicatedjob-replicas": "2",
        "jobset.sigs.k8s.io/global-replicas": "3",
        "jobset.sigs.k8s.io/job-index": "1",
        "jobset.sigs.k8s.io/job-global-index": "2",
        "jobset.sigs.k8s.io/restart-attempt": "0",
    }
    for key, value in expected.items():
        assert meta.labels[key] == value
        assert meta.annotations[key] == value
    assert re.fullmatch("[0-9a-f]{40}", meta.labels["jobset.sigs.k8s.io/job-key"])
    (ref,) = meta.owner_references
    assert (ref.api_version, ref.kind, ref.name, ref.controller) == (
        "jobset.x-k8s.io/v1alpha2",
        "JobSet",
        "pretrain",
        True,
    )
    # The webhook's defaults: Indexed Jobs; the API server's: a selector on the Job's UID.
    assert workers.spec.completion_mode == "Indexed"
    assert workers.spec.suspend is False
    assert workers.spec.selector is not None
    assert workers.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": workers.metadata.uid
    }


def test_a_jobset_s_pods_are_indexed_job_pods_with_the_jobset_subdomain() -> None:
    result = expand(JOBSET)
    assert len(result.pods) == 1 + 2 * 3
    by_job: dict[str, list[WorkloadPod]] = {}
    for entry in result.pods:
        by_job.setdefault(entry.owners[0].name, []).append(entry)
        assert entry.subdomain == "pretrain"
        assert str(entry.top) == "JobSet ml/pretrain"
    assert {job: len(pods) for job, pods in by_job.items()} == {
        "pretrain-driver-0": 1,
        "pretrain-workers-0": 3,
        "pretrain-workers-1": 3,
    }
    second = by_job["pretrain-workers-1"]
    assert [e.hostname for e in second] == [f"pretrain-workers-1-{i}" for i in range(3)]
    assert [e.pod.metadata.generate_name for e in second] == [
        f"pretrain-workers-1-{i}-" for i in range(3)
    ]
    labels = second[0].pod.metadata.labels
    assert labels["jobset.sigs.k8s.io/job-index"] == "1"
    assert labels["batch.kubernetes.io/job-name"] == "pretrain-workers-1"
    assert labels["tier"] == "worker"
    assert second[0].pod.spec.resource_claims[0].resource_claim_template_name == "eight-gpus"
    assert owners(second[0]) == ["Job ml/pretrain-workers-1", "JobSet ml/pretrain"]


def test_an_in_order_jobset_starts_a_replicated_job_after_the_one_before_is_ready() -> None:
    text = JOBSET.replace(
        "spec:\n  replicatedJobs:",
        "spec:\n  startupPolicy:\n    startupPolicyOrder: InOrder\n  replicatedJobs:",
    )
    result = expand(text)
    (driver,) = [e for e in result.pods if e.owners[0].name == "pretrain-driver-0"]
    workers = [e for e in result.pods if e.owners[0].name != "pretrain-driver-0"]
    assert driver.after == ()
    assert {e.after for e in workers} == {(driver.pod.metadata.name,)}


def test_a_replicated_job_that_depends_on_another_completing_is_not_created_yet() -> None:
    text = JOBSET.replace(
        "    replicas: 2\n",
        "    replicas: 2\n    dependsOn:\n    - name: driver\n      status: Complete\n",
    )
    result = expand(text)
    assert [j.metadata.name for j in result.jobs] == ["pretrain-driver-0"]
    assert str(result.notes[0]) == (
        "JobSet ml/pretrain: replicatedJob workers: its Jobs are created once driver completes"
    )


def test_the_node_selector_exclusive_placement_pins_each_job_to_its_own_nodes() -> None:
    text = JOBSET.replace(
        "  namespace: ml\n",
        "  namespace: ml\n  annotations:\n"
        "    alpha.jobset.sigs.k8s.io/exclusive-topology: cloud.google.com/gke-nodepool\n"
        '    alpha.jobset.sigs.k8s.io/node-selector: "true"\n',
        1,
    )
    result = expand(text)
    pod = next(e.pod for e in result.pods if e.owners[0].name == "pretrain-workers-1")
    assert pod.spec.node_selector == {
        "alpha.jobset.sigs.k8s.io/namespaced-job": "ml_pretrain-workers-1"
    }
    (toleration,) = pod.spec.tolerations
    assert (toleration.key, toleration.operator, toleration.effect) == (
        "alpha.jobset.sigs.k8s.io/no-schedule",
        "Exists",
        "NoSchedule",
    )
    assert pod.metadata.annotations["alpha.jobset.sigs.k8s.io/exclusive-topology"] == (
        "cloud.google.com/gke-nodepool"
    )


def test_a_suspended_jobset_creates_suspended_jobs_and_no_pods() -> None:
    result = expand(
        JOBSET.replace("spec:\n  replicatedJobs:", "spec:\n  suspend: true\n  replicatedJobs:")
    )
    assert len(result.jobs) == 3
    assert all(job.spec.suspend for job in result.jobs)
    assert result.pods == ()


# ------------------------------------------------------------------------ LeaderWorkerSet

LWS = """\
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata:
  name: vllm
  namespace: serve
spec:
  replicas: 2
  leaderWorkerTemplate:
    size: 4
    leaderTemplate:
      metadata:
        labels:
          role: leader
      spec:
        containers:
        - name: vllm-leader
          image: vllm:0.9
    workerTemplate:
      metadata:
        labels:
          role: worker
      spec:
        containers:
        - name: vllm-worker
          image: vllm:0.9
        resourceClaims:
        - name: gpu
          resourceClaimTemplateName: one-gpu
"""


def test_a_leaderworkerset_makes_a_leader_and_size_minus_one_workers_per_group() -> None:
    result = expand(LWS)
    assert names(result.pods) == [
        "vllm-0",
        "vllm-1",
        "vllm-0-1",
        "vllm-0-2",
        "vllm-0-3",
        "vllm-1-1",
        "vllm-1-2",
        "vllm-1-3",
    ]
    pods = {e.pod.metadata.name: e for e in result.pods}
    leader = pods["vllm-1"].pod.metadata
    assert leader.labels["role"] == "leader"
    assert leader.labels["leaderworkerset.sigs.k8s.io/name"] == "vllm"
    assert leader.labels["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    assert leader.labels["leaderworkerset.sigs.k8s.io/group-index"] == "1"
    group_key = leader.labels["leaderworkerset.sigs.k8s.io/group-key"]
    assert re.fullmatch("[0-9a-f]{40}", group_key)
    assert leader.annotations == {"leaderworkerset.sigs.k8s.io/size": "4"}
    worker = pods["vllm-1-2"].pod.metadata
    assert worker.labels["role"] == "worker"
    assert worker.labels["leaderworkerset.sigs.k8s.io/worker-index"] == "2"
    assert worker.labels["leaderworkerset.sigs.k8s.io/group-index"] == "1"
    assert worker.labels["leaderworkerset.sigs.k8s.io/group-key"] == group_key
    assert worker.annotations == {
        "leaderworkerset.sigs.k8s.io/size": "4",
        "leaderworkerset.sigs.k8s.io/leader-name": "vllm-1",
    }
    revision = "leaderworkerset.sigs.k8s.io/template-revision-hash"
    assert worker.labels[revision] == leader.labels[revision]
    assert (pods["vllm-1-2"].hostname, pods["vllm-1-2"].subdomain) == ("vllm-1-2", "vllm")
    assert pods["vllm-1-2"].pod.spec.resource_claims[0].name == "gpu"
    assert owners(pods["vllm-1"]) == ["StatefulSet serve/vllm", "LeaderWorkerSet serve/vllm"]
    assert owners(pods["vllm-1-2"]) == [
        "StatefulSet serve/vllm-1",
        "Pod serve/vllm-1",
        "StatefulSet serve/vllm",
        "LeaderWorkerSet serve/vllm",
    ]


def test_the_worker_statefulsets_are_owned_by_their_leader_pods() -> None:
    result = expand(LWS)
    leaders, *workers = result.stateful_sets
    assert (leaders.metadata.name, leaders.spec.replicas) == ("vllm", 2)
    assert leaders.metadata.owner_references[0].kind == "LeaderWorkerSet"
    pods = {e.pod.metadata.name: e.pod for e in result.pods}
    for sts in workers:
        (ref,) = sts.metadata.owner_references
        assert (ref.api_version, ref.kind, ref.name) == ("v1", "Pod", sts.metadata.name)
        assert ref.uid == pods[sts.metadata.name].metadata.uid
        assert sts.spec.replicas == 3
        assert sts.spec.ordinals is not None and sts.spec.ordinals.start == 1
        assert sts.spec.pod_management_policy == "Parallel"


def test_leader_ready_workers_wait_for_their_leader_and_unique_subdomains_per_group() -> None:
    text = LWS.replace(
        "spec:\n  replicas: 2\n",
        "spec:\n  replicas: 2\n  startupPolicy: LeaderReady\n"
        "  networkConfig:\n    subdomainPolicy: UniquePerReplica\n",
    )
    result = expand(text)
    pods = {e.pod.metadata.name: e for e in result.pods}
    assert pods["vllm-0"].after == ()
    assert pods["vllm-0-3"].after == ("vllm-0",)
    assert pods["vllm-0"].subdomain == "vllm-0"
    assert pods["vllm-0-3"].subdomain == "vllm-0"


def test_exclusive_topology_gives_leaders_group_affinities_and_workers_wait() -> None:
    text = LWS.replace(
        "  namespace: serve\n",
        "  namespace: serve\n  annotations:\n"
        "    leaderworkerset.sigs.k8s.io/exclusive-topology: topology.kubernetes.io/zone\n",
    )
    result = expand(text)
    pods = {e.pod.metadata.name: e for e in result.pods}
    leader = pods["vllm-0"].pod
    key = leader.metadata.labels["leaderworkerset.sigs.k8s.io/group-key"]
    assert leader.spec.affinity is not None
    (together,) = leader.spec.affinity.pod_affinity[
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert together == {
        "labelSelector": {
            "matchExpressions": [
                {"key": "leaderworkerset.sigs.k8s.io/group-key", "operator": "In", "values": [key]}
            ]
        },
        "topologyKey": "topology.kubernetes.io/zone",
    }
    anti = leader.spec.affinity.pod_anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["labelSelector"]["matchExpressions"][1]["operator"] == "NotIn"
    assert pods["vllm-0-1"].after == ("vllm-0",)
    assert (
        pods["vllm-0-1"].pod.metadata.annotations["leaderworkerset.sigs.k8s.io/exclusive-topology"]
        == "topology.kubernetes.io/zone"
    )


def test_a_leaderworkerset_of_size_one_has_leaders_only() -> None:
    result = expand(LWS.replace("size: 4", "size: 1"))
    assert names(result.pods) == ["vllm-0", "vllm-1"]
    assert len(result.stateful_sets) == 1


# ------------------------------------------------------------------------ across all kinds


def test_namespaces_come_from_the_owner_and_default_to_default() -> None:
    result = expand(JOB.replace("  namespace: ml\n", ""))
    assert {e.pod.metadata.namespace for e in result.pods} == {"default"}


def test_fields_dralloc_does_not_model_are_ignored() -> None:
    text = JOB.replace(
        "  completions: 5\n",
        "  completions: 5\n  podFailurePolicy: {rules: []}\n  someFutureField: 3\n",
    ).replace(
        "      - name: trainer\n", "      - name: trainer\n        env: [{name: A, value: b}]\n"
    )
    (job,) = load(text)
    assert isinstance(job, Job)
    assert len(expand(text).pods) == 2


# ------------------------------------------------------------------------ property test

_template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}
_counts = st.integers(min_value=0, max_value=4)
_optional = st.one_of(st.none(), st.integers(min_value=1, max_value=4))


def _job_spec(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A JobSpec document and how many pods it runs at once."""
    parallelism, completions = draw(_optional), draw(_optional)
    spec: dict[str, Any] = {"template": _template}
    if parallelism is not None:
        spec["parallelism"] = parallelism
    if completions is not None:
        spec["completions"] = completions
    if draw(st.booleans()):
        spec["completionMode"] = "Indexed"
        if completions is None:  # API validation: Indexed needs completions
            spec["completions"] = completions = 2
    if parallelism is None and completions is None:
        return spec, 1
    effective = parallelism if parallelism is not None else 1
    return spec, effective if completions is None else min(effective, completions)


@st.composite
def _workload(draw: st.DrawFn, index: int) -> tuple[dict[str, Any], int]:
    """A workload document and the number of pods its controllers create."""
    namespace = draw(st.sampled_from(["default", "ml"]))
    selector = {"matchLabels": {"app": "x"}}
    kind = draw(st.sampled_from(["Deployment", "StatefulSet", "Job", "JobSet", "LeaderWorkerSet"]))
    replicas = draw(_counts)
    if kind in ("Deployment", "StatefulSet"):
        prefix = "d" if kind == "Deployment" else "s"
        doc = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": f"{prefix}{index}", "namespace": namespace},
            # Selectors overlap on purpose: owned pods are claimed once.
            "spec": {"replicas": replicas, "selector": selector, "template": _template},
        }
        if kind == "StatefulSet" and draw(st.booleans()):
            doc["spec"]["podManagementPolicy"] = "Parallel"
        return doc, replicas
    if kind == "Job":
        spec, count = _job_spec(draw)
        suspended = draw(st.booleans())
        spec["suspend"] = suspended
        doc = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"j{index}", "namespace": namespace},
            "spec": spec,
        }
        return doc, 0 if suspended else count
    if kind == "JobSet":
        total = 0
        rjobs = []
        for r in range(draw(st.integers(min_value=1, max_value=3))):
            spec, count = _job_spec(draw)
            if "completions" not in spec:  # the webhook makes them Indexed, which needs it
                spec["completions"] = count = spec.get("parallelism", 1)
            rjob_replicas = draw(_counts)
            rjobs.append({"name": f"r{r}", "replicas": rjob_replicas, "template": {"spec": spec}})
            total += rjob_replicas * count
        doc = {
            "apiVersion": "jobset.x-k8s.io/v1alpha2",
            "kind": "JobSet",
            "metadata": {"name": f"js{index}", "namespace": namespace},
            "spec": {"replicatedJobs": rjobs},
        }
        return doc, total
    size = draw(st.integers(min_value=1, max_value=4))
    doc = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": f"l{index}", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {"size": size, "workerTemplate": _template},
        },
    }
    return doc, replicas * size


@st.composite
def _workloads(draw: st.DrawFn) -> list[tuple[dict[str, Any], int]]:
    return [draw(_workload(index)) for index in range(draw(st.integers(1, 6)))]


@settings(max_examples=150, deadline=None)
@given(_workloads(), st.integers(min_value=0, max_value=2**32))
def test_every_pod_has_a_unique_name_an_owner_chain_to_its_input_and_the_expected_count(
    cases: list[tuple[dict[str, Any], int]], seed: int
) -> None:
    workloads = [
        msgspec.convert(doc, WORKLOAD_KINDS[doc["kind"]][0], dec_hook=_dec_hook) for doc, _ in cases
    ]
    result = expand_workloads(workloads, random.Random(seed))
    assert result.problems == ()
    keys = [(e.pod.metadata.namespace, e.pod.metadata.name) for e in result.pods]
    assert len(keys) == len(set(keys))
    inputs = {(w.kind, w.metadata.namespace, w.metadata.name) for w in workloads}
    counts: dict[tuple[str, str, str], int] = {}
    for entry in result.pods:
        top = entry.top
        assert (top.kind, top.namespace, top.name) in inputs
        controller = entry.pod.metadata.owner_references[0]
        first = entry.owners[0]
        assert (controller.kind, controller.name, controller.uid) == (
            first.kind,
            first.name,
            first.uid,
        )
        assert all(ref.namespace == entry.pod.metadata.namespace for ref in entry.owners)
        counts[(top.kind, top.namespace, top.name)] = (
            counts.get((top.kind, top.namespace, top.name), 0) + 1
        )
    for workload, (_, expected) in zip(workloads, cases, strict=True):
        key = (workload.kind, workload.metadata.namespace, workload.metadata.name)
        assert counts.get(key, 0) == expected, key
    assert expand_workloads(workloads, random.Random(seed)) == result
