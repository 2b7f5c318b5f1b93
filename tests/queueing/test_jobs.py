"""The Workloads Kueue's Job and JobSet integrations create, from real manifests."""

from __future__ import annotations

from pathlib import Path

from dralloc.api.io import load_files
from dralloc.api.workloads import Job, JobSet
from dralloc.queueing.jobs import workload_for_job, workload_for_jobset, workload_name
from dralloc.queueing.objects import WorkloadPriorityClass

JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: sample-job
  namespace: team-a
  uid: 0a1b2c3d-0000-0000-0000-000000000001
  creationTimestamp: "2026-01-01T10:00:00Z"
  labels:
    kueue.x-k8s.io/queue-name: user-queue
    kueue.x-k8s.io/priority-class: high
  annotations:
    kueue.x-k8s.io/job-min-parallelism: "2"
spec:
  parallelism: 4
  completions: 3
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: trainer
        image: trainer:1
        resources:
          requests:
            cpu: "2"
            nvidia.com/gpu: "1"
"""

JOBSET = """
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata:
  name: llm
  namespace: team-a
  uid: 0a1b2c3d-0000-0000-0000-000000000002
  labels:
    kueue.x-k8s.io/queue-name: user-queue
spec:
  replicatedJobs:
  - name: leader
    replicas: 1
    template:
      spec:
        parallelism: 1
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: leader
              image: llm:1
  - name: workers
    replicas: 2
    template:
      spec:
        parallelism: 4
        completions: 4
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: worker
              image: llm:1
              resources:
                requests:
                  nvidia.com/gpu: "8"
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    (loaded,) = load_files([str(path)])
    return loaded.obj


def test_a_job_becomes_one_pod_set_of_min_parallelism_completions(tmp_path: Path) -> None:
    job = load(tmp_path, JOB)
    assert isinstance(job, Job)
    classes = {"high": WorkloadPriorityClass(value=1000)}
    wl = workload_for_job(job, classes)
    assert wl.metadata.namespace == "team-a"
    assert wl.metadata.name.startswith("job-sample-job-") and len(wl.metadata.name) == 20
    assert wl.spec.queue_name == "user-queue"
    (ps,) = wl.spec.pod_sets
    assert (ps.name, ps.count, ps.min_count) == ("main", 3, 2)
    assert wl.spec.priority == 1000
    ref = wl.spec.priority_class_ref
    assert ref is not None and (ref.kind, ref.name) == ("WorkloadPriorityClass", "high")
    assert wl.metadata.owner_references[0].kind == "Job"


def test_a_jobset_becomes_one_pod_set_per_replicated_job(tmp_path: Path) -> None:
    jobset = load(tmp_path, JOBSET)
    assert isinstance(jobset, JobSet)
    wl = workload_for_jobset(jobset)
    assert [(p.name, p.count) for p in wl.spec.pod_sets] == [("leader", 1), ("workers", 8)]
    assert wl.metadata.name.startswith("jobset-llm-")


def test_the_workload_name_is_kueues_kind_name_and_hash() -> None:
    # What Kueue v0.17.0's jobframework.GetWorkloadNameForOwnerWithGVK returns for this job.
    assert workload_name("Job", "batch", "sample-job", "uid-1") == "job-sample-job-2e47a"
