"""Batch manifests as teams write them for Kueue, Volcano, KAI and Kubernetes 1.36's own gang
API, each with the outcome those projects document, run through `dralloc queue` or
`dralloc schedule` beside a generated GPU cluster.

Each `batch/*.yaml` is one user's file in the shapes those projects' examples use
(apiVersions, multi-document files and `List`s, `generateName`, defaults left out, quoted and
unquoted quantities); its opening comment says what it shows and an `# expect: {...}` line
what must happen, derived from the projects' semantics, not from running dralloc:

- `command`: `queue` (Kueue's admission, then scheduling) or `schedule`;
- `exit`: the exit code; `stderr`: substrings that must appear;
- `config`: a KubeSchedulerConfiguration from `batch/config/` (profiles named as the pods'
  `schedulerName`); `gates`: `--feature-gates`;
- `placed` / `pending`: how many pods end bound / not bound;
- `admitted` / `pending_workloads`: Kueue Workloads admitted / not;
- `admitted_jobs`: the jobs whose Workloads are admitted, when that is the point;
- `flavors`: `namespace/job` -> the ResourceFlavor its pod set is admitted on;
- `same_node`: jobs admitted with a topology assignment of one host, where all their pods land.

The cluster is `dralloc cluster generate --nodes 2xh100-80gb-sxm:gpus=4`: two nodes of 112
CPUs and 1Ti with four H100s each (8 GPUs, DRA devices behind the extended resource
`nvidia.com/gpu`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.queueing import decode_assignment

HERE = Path(__file__).parent / "batch"
CASES = sorted(HERE.glob("*.yaml"))
EXPECT = "# expect:"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "cluster.yaml"
    made = CliRunner().invoke(
        app, ["cluster", "generate", "--nodes", "2xh100-80gb-sxm:gpus=4", "--out", str(path)]
    )
    assert made.exit_code == 0, made.output
    return path


def expectation(path: Path) -> dict[str, Any]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(EXPECT):
            found = yaml.safe_load(line[len(EXPECT) :])
            assert isinstance(found, dict)
            return found
    raise AssertionError(f"{path.name} has no '{EXPECT}' line")


def run(cluster: Path, path: Path, expected: dict[str, Any]) -> Result:
    args = [expected["command"], "-f", str(cluster), "-f", str(path), "-o", "yaml"]
    if "config" in expected:
        args += ["--config", str(HERE / "config" / expected["config"])]
    if "gates" in expected:
        args += ["--feature-gates", expected["gates"]]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stderr
    return result


def admitted(workload: dict[str, Any]) -> bool:
    conditions = workload.get("status", {}).get("conditions", [])
    return any(c["type"] == "Admitted" and c["status"] == "True" for c in conditions)


def job_of(workload: dict[str, Any]) -> str:
    owners = workload["metadata"].get("ownerReferences") or [workload["metadata"]]
    return str(owners[0]["name"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_each_batch_manifest_gets_the_outcome_its_project_documents(
    cluster: Path, path: Path
) -> None:
    expected = expectation(path)
    result = run(cluster, path, expected)
    assert result.exit_code == expected["exit"], result.stderr
    for text in expected.get("stderr", []):
        assert text in result.stderr, result.stderr
    if expected["exit"] == 2:
        assert result.stdout == ""
        return
    (document,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    items = document["items"]
    pods = [i for i in items if i["kind"] == "Pod" and i.get("status", {}).get("phase") != "Failed"]
    placed = [p for p in pods if p["spec"].get("nodeName")]
    assert len(placed) == expected["placed"], result.stderr
    assert len(pods) - len(placed) == expected["pending"], result.stderr
    workloads = [
        i for i in items if i["kind"] == "Workload" and i["apiVersion"].startswith("kueue.x-k8s.io")
    ]
    if "admitted" in expected:
        assert sum(admitted(w) for w in workloads) == expected["admitted"], result.stdout
        assert sum(not admitted(w) for w in workloads) == expected["pending_workloads"]
    if "admitted_jobs" in expected:
        assert sorted(job_of(w) for w in workloads if admitted(w)) == expected["admitted_jobs"]
    for job, flavor in expected.get("flavors", {}).items():
        namespace, name = job.split("/")
        (workload,) = [
            w for w in workloads if w["metadata"]["namespace"] == namespace and job_of(w) == name
        ]
        (assignment,) = workload["status"]["admission"]["podSetAssignments"]
        assert set(assignment["flavors"].values()) == {flavor}
    for job in expected.get("same_node", []):
        nodes = {
            p["spec"]["nodeName"]
            for p in placed
            if p["metadata"]["labels"].get("batch.kubernetes.io/job-name") == job
        }
        (workload,) = [w for w in workloads if job_of(w) == job]
        (assignment,) = workload["status"]["admission"]["podSetAssignments"]
        levels, domains = decode_assignment(assignment["topologyAssignment"])
        assert levels == ["kubernetes.io/hostname"] and len(domains) == 1
        assert nodes == {domains[0].values[0]}


def test_the_batch_corpus_covers_each_projects_kinds() -> None:
    kinds = {
        (document.get("apiVersion"), document.get("kind"))
        for path in CASES
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(document, dict)
    }
    for wanted in [
        ("kueue.x-k8s.io/v1beta1", "ClusterQueue"),
        ("kueue.x-k8s.io/v1beta2", "ClusterQueue"),
        ("kueue.x-k8s.io/v1beta2", "Cohort"),
        ("kueue.x-k8s.io/v1beta1", "WorkloadPriorityClass"),
        ("kueue.x-k8s.io/v1beta1", "Workload"),
        ("jobset.x-k8s.io/v1alpha2", "JobSet"),
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
        ("batch.volcano.sh/v1alpha1", "Job"),
        ("scheduling.volcano.sh/v1beta1", "PodGroup"),
        ("scheduling.volcano.sh/v1beta1", "Queue"),
        ("scheduling.run.ai/v2", "Queue"),
        ("scheduling.run.ai/v2alpha2", "PodGroup"),
        ("scheduling.k8s.io/v1alpha2", "Workload"),
        ("scheduling.k8s.io/v1alpha2", "PodGroup"),
    ]:
        assert wanted in kinds, wanted
