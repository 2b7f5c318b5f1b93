"""`dralloc schedule -f` end to end on a real manifest with the three kinds of gang: a Workload
and PodGroup with minCount 4 of 8-GPU pods, a Volcano PodGroup and a KAI-annotated set, on five
DGX H100 nodes (tests/scheduler/data/gangs)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from dralloc.cli.main import app

DATA = Path(__file__).parent / "data" / "gangs"
GATES = "GenericWorkload=true,GangScheduling=true"


def _run(*args: str) -> tuple[int, dict[str, str | None], str]:
    result = CliRunner().invoke(
        app,
        [
            "schedule",
            "-f",
            str(DATA / "cluster.yaml"),
            "-f",
            str(DATA / "workloads.yaml"),
            "-o",
            "yaml",
            *args,
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    document = yaml.safe_load(result.stdout)
    nodes = {
        item["metadata"]["name"]: item["spec"].get("nodeName")
        for item in document["items"]
        if item["kind"] == "Pod"
    }
    return result.exit_code, nodes, result.stderr


def test_schedule_places_whole_gangs_and_binds_nothing_of_the_one_that_does_not_fit() -> None:
    code, nodes, stderr = _run("--feature-gates", GATES)
    assert code == 1  # some pods stay pending
    assert all(nodes[f"llm-train-{i}"] for i in range(4))
    assert [nodes["vc-job-0"], nodes["vc-job-1"]] == [None, None]
    assert all(nodes[f"kai-infer-{i}"] for i in range(4))
    assert "pod default/vc-job-0: waiting for minCount pods from a gang to be scheduled" in stderr


def test_without_the_gates_the_same_manifest_schedules_pod_by_pod() -> None:
    # Kubernetes 1.36's default: no gang scheduling, so one Volcano pod binds alone.
    code, nodes, _ = _run()
    assert code == 1
    assert sum(1 for i in range(2) if nodes[f"vc-job-{i}"]) == 1


def test_each_pod_group_is_output_with_the_condition_its_cycle_left() -> None:
    result = CliRunner().invoke(
        app,
        [
            "schedule",
            "-f",
            str(DATA / "cluster.yaml"),
            "-f",
            str(DATA / "workloads.yaml"),
            "-o",
            "yaml",
            "--feature-gates",
            GATES,
        ],
    )
    document = yaml.safe_load(result.stdout)
    groups = [i for i in document["items"] if i["kind"] == "PodGroup"]
    # Kubernetes' PodGroup with its PodGroupScheduled condition, Volcano's with the status
    # Volcano's scheduler writes (KAI's status is KAI's to write: not output).
    assert [g["apiVersion"] for g in groups] == [
        "scheduling.k8s.io/v1alpha2",
        "scheduling.volcano.sh/v1beta1",
    ]
    assert groups[0]["metadata"]["name"] == "llm-train-workers"
    assert groups[0]["status"]["conditions"] == [
        {"type": "PodGroupScheduled", "status": "True", "reason": "Scheduled"}
    ]
    # No minResources: enqueued at once (Inqueue); the cycle then failed, and says why.
    assert groups[1]["metadata"]["name"] == "vc-job"
    assert groups[1]["status"] == {
        "phase": "Inqueue",
        "conditions": [
            {
                "type": "Unschedulable",
                "status": "True",
                "reason": "NotEnoughResources",
                "message": "2/2 tasks in gang unschedulable: pod group is not ready, 2 Pending, "
                "2 minAvailable; Pending: 2 Unschedulable. Origin reason is: pod group is "
                "unschedulable: 1 of minCount 2 pods of PodGroup default/vc-job fit; pod "
                "default/vc-job-1: 0/5 nodes are available: 5 cannot allocate all claims.",
            }
        ],
    }


def test_a_volcano_and_a_kubernetes_pod_group_may_share_a_name(tmp_path: Path) -> None:
    text = (DATA / "workloads.yaml").read_text()
    twin = (
        "---\napiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\n"
        "metadata: {name: llm-train-workers, namespace: default}\nspec: {minMember: 1}\n"
    )
    (tmp_path / "w.yaml").write_text(text + twin)
    result = CliRunner().invoke(
        app,
        [
            "schedule",
            "-f",
            str(DATA / "cluster.yaml"),
            "-f",
            str(tmp_path / "w.yaml"),
            "--feature-gates",
            GATES,
        ],
    )
    assert "duplicate" not in result.stderr, result.stderr
    assert result.exit_code in (0, 1), result.stderr


def test_explain_names_the_gang_and_the_member_that_blocks_it() -> None:
    def explain(pod: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            app,
            [
                "explain",
                "-f",
                str(DATA / "cluster.yaml"),
                "-f",
                str(DATA / "workloads.yaml"),
                "--feature-gates",
                GATES,
                "--pod",
                f"default/{pod}",
            ],
        )
        return result.exit_code, result.stdout

    code, out = explain("vc-job-0")
    assert code == 1
    assert out.splitlines()[0] == (
        "pod default/vc-job-0 is in gang PodGroup default/vc-job (minCount 2): 1 of 2 pods "
        "fit; pod default/vc-job-1 blocks: 0/5 nodes are available: 5 cannot allocate all "
        "claims."
    )
    code, out = explain("llm-train-2")
    assert code == 0
    assert "4 of 4 pods fit, the gang can be placed now; this pod would go to" in out


def test_a_gang_preempts_the_fewest_lower_priority_pods_with_workload_aware_preemption() -> None:
    manifest = DATA / "preemption.yaml"
    gates = GATES + ",WorkloadAwarePreemption=true"
    result = CliRunner().invoke(
        app, ["schedule", "-f", str(manifest), "-o", "yaml", "--feature-gates", gates]
    )
    assert result.exit_code == 0, result.stderr
    items = yaml.safe_load(result.stdout)["items"]
    pods = {i["metadata"]["name"]: i for i in items if i["kind"] == "Pod"}
    assert pods["train-0"]["spec"]["nodeName"] == pods["train-1"]["spec"]["nodeName"] == "n2"
    assert pods["batch-2"]["status"]["reason"] == "Preempted"
    assert "batch-1" not in pods  # untouched: not part of the output
    table = CliRunner().invoke(app, ["schedule", "-f", str(manifest), "--feature-gates", gates])
    assert "pod default/batch-2: preempted by default/train-0 on node n2" in table.stderr
    assert "preempted 1 pod" in table.stderr


def test_pod_group_priority_needs_the_workload_aware_preemption_gate() -> None:
    # As the apiserver: spec.priority is a field of the gate.
    result = CliRunner().invoke(
        app, ["schedule", "-f", str(DATA / "preemption.yaml"), "--feature-gates", GATES]
    )
    assert result.exit_code == 2
    assert "PodGroup default/train: spec.priority: Forbidden" in result.stderr
