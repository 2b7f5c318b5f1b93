"""`dralloc queue`: Kueue's admission and the scheduler's placement in one offline run.

The example (examples/queueing/) end to end; Kueue's admitted-but-unschedulable case
(kueue#4329) with and without --placement; partial admission down to minCount; an Indexed
gang admitted only when all its pods fit; bad input (exit 2, one exact line per problem)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml
from cli_kit import ROOT, invoke, stderr_lines, write

EXAMPLE = ROOT / "examples" / "queueing"


def cluster(tmp_path: Path, nodes: str) -> str:
    """Nodes, slices and classes as `dralloc cluster generate --nodes NODES` writes them."""
    path = tmp_path / "cluster.yaml"
    result = invoke("cluster", "generate", "--nodes", nodes, "--out", str(path))
    assert result.exit_code == 0, result.stderr
    return str(path)


def kueue(devices: int, *, borrowing: str = "") -> str:
    """One flavor, one ClusterQueue `gpus` with `devices` GPUs of quota, a LocalQueue in ml."""
    return textwrap.dedent(
        f"""\
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: ResourceFlavor
        metadata: {{name: h100}}
        spec:
          nodeLabels: {{nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}}
        ---
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: ClusterQueue
        metadata: {{name: gpus}}
        spec:
          namespaceSelector: {{}}
          queueingStrategy: BestEffortFIFO
          resourceGroups:
          - coveredResources: ["devices.dralloc.io/gpu.nvidia.com"]
            flavors:
            - name: h100
              resources:
              - name: devices.dralloc.io/gpu.nvidia.com
                nominalQuota: {devices}{borrowing}
        ---
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: LocalQueue
        metadata: {{name: user, namespace: ml}}
        spec: {{clusterQueue: gpus}}
        """
    )


def template(name: str, gpus: int) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaimTemplate
        metadata: {{name: {name}, namespace: ml}}
        spec:
          spec:
            devices:
              requests:
              - name: gpu
                exactly:
                  deviceClassName: gpu.nvidia.com
                  allocationMode: ExactCount
                  count: {gpus}
        """
    )


def job(
    name: str,
    minute: int,
    parallelism: int,
    claim: str,
    *,
    indexed: bool = False,
    min_parallelism: int | None = None,
) -> str:
    annotations = (
        f"\n  annotations: {{kueue.x-k8s.io/job-min-parallelism: '{min_parallelism}'}}"
        if min_parallelism is not None
        else ""
    )
    mode = "\n  completionMode: Indexed" if indexed else ""
    return (
        f"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: ml\n"
        f"  uid: 00000000-0000-4000-8000-0000000000{minute:02d}\n"
        f'  creationTimestamp: "2026-03-02T09:{minute:02d}:00Z"\n'
        f"  labels: {{kueue.x-k8s.io/queue-name: user}}{annotations}\n"
        f"spec:\n  parallelism: {parallelism}\n  completions: {parallelism}{mode}\n"
        "  suspend: true\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers:\n      - name: main\n        image: trainer:1\n"
        "        resources: {claims: [{name: gpus}]}\n"
        f"      resourceClaims: [{{name: gpus, resourceClaimTemplateName: {claim}}}]\n"
    )


def docs(*parts: str) -> str:
    return "---\n".join(parts)


def queue(*args: str) -> tuple[int, str, list[str]]:
    result = invoke("queue", *args)
    return result.exit_code, result.stdout, stderr_lines(result)


def items(*args: str) -> dict[tuple[str, str], dict[str, Any]]:
    result = invoke("queue", *args, "-o", "yaml")
    assert result.exit_code in (0, 1), result.stderr
    listing = yaml.safe_load(result.stdout)
    return {(i["kind"], i["metadata"]["name"]): i for i in listing["items"]}


def workload(found: dict[tuple[str, str], dict[str, Any]], job: str) -> dict[str, Any]:
    (key,) = [k for k in found if k[0] == "Workload" and k[1].startswith(f"job-{job}-")]
    return found[key]


def pods(found: dict[tuple[str, str], dict[str, Any]], job: str) -> dict[str, str | None]:
    """Pod name -> node (None: unschedulable) of the pods `job` made."""
    return {
        name: item["spec"].get("nodeName")
        for (kind, name), item in found.items()
        if kind == "Pod" and re.fullmatch(rf"{job}-(\d+-)?[a-z0-9]{{5}}", name)
    }


def condition(item: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [c for c in item["status"]["conditions"] if c["type"] == kind]
    return found


# ----------------------------------------------------------------------------- example


def test_the_example_keeps_the_unplaceable_gang_pending_and_admits_the_rest() -> None:
    code, out, err = queue("-f", str(EXAMPLE))
    assert code == 1  # pretrain waits
    assert "  team-a/job-finetune-60544  h100     1/1 placed on dgx-h100-02" in out
    assert "  team-b/job-eval-7707c   h100     2/2 placed on dgx-h100-00,dgx-h100-01" in out
    assert "  team-b/job-sweep-9d075  h100     4/4 placed on dgx-h100-00,dgx-h100-01" in out
    # team-b borrows 4 GPUs from team-a's unused quota (its borrowingLimit).
    assert "  h100    devices.dralloc.io/gpu.nvidia.com  12     8        4" in out
    (line,) = [line for line in out.splitlines() if "pretrain" in line]
    assert re.fullmatch(
        r"  pending team-a/job-pretrain-54466: PlacementInfeasible: placement infeasible: "
        r"pod team-a/pretrain-1-[a-z0-9]{5}: 0/3 nodes are available: 3 cannot allocate all "
        r"claims\.",
        line,
    )
    assert err[-1] == "admitted 3 of 4 workloads in 3 cycle(s); placed 7 of 7 pods"


def test_the_example_without_placement_admits_the_gang_and_one_pod_stays_pending() -> None:
    code, out, err = queue("-f", str(EXAMPLE), "--no-placement")
    assert code == 1
    assert "  team-a/job-pretrain-54466  h100     1/2 placed on dgx-h100-02" in out
    assert "pending team-a/job-finetune-60544: WaitingForQuota" in out
    assert "pending team-b/job-sweep-9d075: WaitingForQuota" in out
    assert err[-1] == "admitted 2 of 4 workloads in 3 cycle(s); placed 3 of 4 pods"


def test_the_example_as_yaml_has_kueue_status_and_the_pods() -> None:
    found = items("-f", str(EXAMPLE))
    sweep = workload(found, "sweep")
    (assignment,) = sweep["status"]["admission"]["podSetAssignments"]
    assert assignment["count"] == 4  # partial admission: 8 asked, minCount 2
    assert assignment["flavors"] == {
        "cpu": "h100",
        "memory": "h100",
        "devices.dralloc.io/gpu.nvidia.com": "h100",
    }
    assert assignment["resourceUsage"]["devices.dralloc.io/gpu.nvidia.com"] == "4"
    assert condition(sweep, "QuotaReserved")["status"] == "True"
    assert condition(sweep, "Admitted")["status"] == "True"
    pretrain = workload(found, "pretrain")
    assert condition(pretrain, "QuotaReserved")["reason"] == "PlacementInfeasible"
    assert pods(found, "pretrain") == {}  # its Job stays suspended: no pods
    sweep_pods = pods(found, "sweep")
    assert len(sweep_pods) == 4 and all(sweep_pods.values())
    # Kueue injected the flavor's nodeLabels into the pods' nodeSelector.
    (pod,) = [i for (k, n), i in found.items() if k == "Pod" and n.startswith("finetune-")]
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


def test_explain_names_the_pod_and_the_fit_error() -> None:
    _, _, err = queue("-f", str(EXAMPLE), "--explain", "team-a/pretrain")
    assert err[0].startswith(
        "workload team-a/job-pretrain-54466: PlacementInfeasible: placement infeasible: "
        "pod team-a/pretrain-1-"
    )


# ------------------------------------------------- admitted but unschedulable (kueue#4329)


def split_gpus(tmp_path: Path) -> list[str]:
    """16 GPUs of quota, 4 nodes of 4 GPUs; `big` wants 2 pods x 8 GPUs, `small` (later)
    2 pods x 4 GPUs."""
    files = [cluster(tmp_path, "4xh100:gpus=4")]
    files.append(
        write(
            tmp_path,
            "queue.yaml",
            docs(
                kueue(16),
                template("eight", 8),
                template("four", 4),
                job("big", 1, 2, "eight"),
                job("small", 2, 2, "four"),
            ),
        )
    )
    return [arg for f in files for arg in ("-f", f)]


def test_kueue_admits_a_workload_whose_pods_cannot_be_placed(tmp_path: Path) -> None:
    args = split_gpus(tmp_path)
    code, out, _ = queue(*args, "--no-placement")
    assert code == 1
    assert re.search(r"  ml/job-big-\w{5}\s+h100\s+0/2 placed\n", out)
    assert re.search(r"pending ml/job-small-\w{5}: WaitingForQuota", out)
    found = items(*args, "--no-placement")
    assert set(pods(found, "big").values()) == {None}
    (pod, *_) = [i for (k, n), i in found.items() if k == "Pod" and n.startswith("big-")]
    scheduled = condition(pod, "PodScheduled")
    assert scheduled["status"] == "False" and scheduled["reason"] == "Unschedulable"


def test_placement_keeps_it_pending_naming_the_pod_and_admits_the_next(tmp_path: Path) -> None:
    args = split_gpus(tmp_path)
    code, out, err = queue(*args)
    assert code == 1  # big waits
    assert re.search(r"  ml/job-small-\w{5}\s+h100\s+2/2 placed on h100-00,h100-01\n", out)
    assert re.search(
        r"  pending ml/job-big-\w{5}: PlacementInfeasible: placement infeasible: pod "
        r"ml/big-[a-z0-9]{5}: 0/4 nodes are available: 4 cannot allocate all claims\.\n",
        out,
    )
    assert err[-1] == "admitted 1 of 2 workloads in 3 cycle(s); placed 2 of 2 pods"


# ---------------------------------------------------------------------- partial admission


def test_partial_admission_down_to_min_count(tmp_path: Path) -> None:
    files = ["-f", cluster(tmp_path, "1xh100:gpus=4")]
    files += [
        "-f",
        write(
            tmp_path,
            "q.yaml",
            docs(kueue(3), template("one", 1), job("sweep", 1, 8, "one", min_parallelism=2)),
        ),
    ]
    found = items(*files)
    (assignment,) = workload(found, "sweep")["status"]["admission"]["podSetAssignments"]
    assert assignment["count"] == 3
    placed = pods(found, "sweep")
    assert len(placed) == 3 and all(placed.values())
    code, _, _ = queue(*files)
    assert code == 0


def test_below_min_count_stays_pending(tmp_path: Path) -> None:
    files = ["-f", cluster(tmp_path, "1xh100:gpus=4")]
    text = docs(kueue(1), template("one", 1), job("sweep", 1, 8, "one", min_parallelism=2))
    code, out, _ = queue(*files, "-f", write(tmp_path, "q.yaml", text))
    assert code == 1
    assert re.search(
        r"pending ml/job-sweep-\w{5}: ExceedsMaxQuota: .*> maximum capacity \(1\)", out
    )


# ----------------------------------------------------------------------------------- gang


def gang(tmp_path: Path, nodes: int) -> list[str]:
    text = docs(kueue(16), template("four", 4), job("gang", 1, 4, "four", indexed=True))
    return ["-f", cluster(tmp_path, f"{nodes}xh100:gpus=4"), "-f", write(tmp_path, "q.yaml", text)]


def test_a_gang_is_admitted_only_when_all_its_pods_fit(tmp_path: Path) -> None:
    code, out, _ = queue(*gang(tmp_path, 3))
    assert code == 1
    # Pods 0-2 fit, one per node; pod 3 does not, so nothing is admitted.
    assert re.search(
        r"pending ml/job-gang-\w{5}: PlacementInfeasible: placement infeasible: "
        r"pod ml/gang-3-[a-z0-9]{5}: 0/3 nodes are available: 3 cannot allocate all claims\.",
        out,
    )
    assert "ADMITTED" not in out


def test_a_gang_that_fits_is_admitted_and_all_its_pods_bound(tmp_path: Path) -> None:
    args = gang(tmp_path, 4)
    code, out, _ = queue(*args)
    assert code == 0
    assert re.search(
        r"ml/job-gang-\w{5}\s+h100\s+4/4 placed on h100-00,h100-01,h100-02,h100-03", out
    )
    placed = pods(items(*args), "gang")
    assert sorted(name[:7] for name in placed) == ["gang-0-", "gang-1-", "gang-2-", "gang-3-"]


# ------------------------------------------------------------------------------ bad input


COHORT_CYCLE = """\
apiVersion: kueue.x-k8s.io/v1beta2
kind: Cohort
metadata: {name: a}
spec: {parentName: b}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: Cohort
metadata: {name: b}
spec: {parentName: a}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: h100}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: q}
spec:
  cohortName: a
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: h100
      resources: [{name: cpu, nominalQuota: 4}]
"""


def test_a_cohort_cycle_is_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "kueue.yaml", COHORT_CYCLE)
    code, out, err = queue("-f", path)
    assert (code, out) == (2, "")
    message = (
        "cohort cycle a -> b -> a: every ClusterQueue under it is inactive until the cycle "
        "is removed"
    )
    assert err == [
        f"{path}: Cohort a: spec.parentName: {message}",
        f"{path}: Cohort b: spec.parentName: {message}",
    ]


def test_a_missing_flavor_is_bad_input(tmp_path: Path) -> None:
    text = COHORT_CYCLE.split("---\n", 3)[3].replace("cohortName: a", "cohortName: x")
    path = write(tmp_path, "kueue.yaml", text)
    code, out, err = queue("-f", path)
    assert (code, out) == (2, "")
    assert err == [
        f'{path}: ClusterQueue q: spec.resourceGroups[0].flavors[0].name: ResourceFlavor "h100" '
        "not found"
    ]


def test_no_files_is_bad_input() -> None:
    code, _, err = queue()
    assert code == 2
    assert err == ["give the cluster, queues and jobs with -f FILE"]
