"""The dashboard's document over a small scheduled fleet: every node a row, each physical GPU
a cell drawn as its driver publishes it (static MIG instances on their memory slices, dynamic
MIG's allocated instance, a time-sliced GPU's shares), taints, claims and pods, the pod left
pending, the ClusterQueue, and the numbers (utilization, cost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dralloc.cli.dashboard import offline_dashboard
from dralloc.cli.inputs import read_cluster
from dralloc.cli.queue import run_queue
from dralloc.cli.schedule import plan_schedule
from dralloc.dashboard import SCHEMA, FleetBuilder, Published, Sample, build_fleet
from dralloc.dashboard.fleet import cluster_queue_json
from dralloc.dashboard.server import Explainer
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.offline import queue_order, schedule_queue

DATA = Path(__file__).parent / "data"


def _gpu(fleet: dict[str, Any], gpu_id: str) -> dict[str, Any]:
    return next(g for n in fleet["nodes"] for g in n["gpus"] if g["id"] == gpu_id)


def test_every_node_is_a_row_with_its_gpus_in_order(fleet: dict[str, Any]) -> None:
    assert fleet["schema"] == SCHEMA and fleet["generatedAt"] == "2027-01-15T08:00:00Z"
    rows = {n["name"]: [g["id"] for g in n["gpus"]] for n in fleet["nodes"]}
    assert rows == {
        "dyn-00": ["dyn-00/gpu-0-counter-set"],
        "l4-00": ["l4-00/gpu-0", "l4-00/gpu-1"],
        "mig-00": ["mig-00/gpu-0"],
    }


def test_static_mig_instances_sit_on_their_memory_slices(fleet: dict[str, Any]) -> None:
    gpu = _gpu(fleet, "mig-00/gpu-0")
    assert (gpu["mode"], gpu["slices"], gpu["used"]) == ("mig-static", 8, 0.0)
    drawn = [(d["profile"], d["slices"], d["allocated"]) for d in gpu["devices"]]
    assert drawn == [
        ("3g.40gb", [0, 4], False),
        ("1g.10gb", [4, 1], False),
        ("1g.10gb", [5, 1], False),
    ]


def test_dynamic_mig_draws_only_the_allocated_instance_with_its_pod(fleet: dict[str, Any]) -> None:
    gpu = _gpu(fleet, "dyn-00/gpu-0-counter-set")
    assert (gpu["mode"], gpu["slices"], gpu["used"]) == ("mig-dynamic", 8, 0.5)
    [instance] = gpu["devices"]
    assert (instance["profile"], instance["slices"]) == ("3g.40gb", [0, 4])
    [claim] = instance["claims"]
    assert claim["claim"].startswith("default/finetune-mig-")
    assert claim["pods"] == ["default/finetune"] and claim["request"] == "mig"


def test_a_time_sliced_gpu_shows_each_claims_share(fleet: dict[str, Any]) -> None:
    gpu = _gpu(fleet, "l4-00/gpu-0")
    assert (gpu["mode"], gpu["sharing"], gpu["shareDimension"]) == (
        "shared",
        "time-slicing",
        "replicas",
    )
    [device] = gpu["devices"]
    shares = sorted((c["pods"][0], c["share"]) for c in device["claims"])
    assert shares == [("default/infer-0", 0.25), ("default/infer-1", 0.25)]
    assert gpu["used"] == 0.5


def test_node_and_device_taints_are_marked(fleet: dict[str, Any]) -> None:
    node = next(n for n in fleet["nodes"] if n["name"] == "mig-00")
    assert node["taints"] == [
        {"key": "dralloc.dev/maintenance", "value": "true", "effect": "NoSchedule"}
    ]
    tainted = _gpu(fleet, "l4-00/gpu-1")
    assert tainted["taints"] == [
        {"key": "gpu.nvidia.com/xid", "value": "79", "effect": "NoSchedule"}
    ]
    assert tainted["used"] == 0.0


def test_summary_counts_gpus_use_and_cost_at_catalog_prices(fleet: dict[str, Any]) -> None:
    summary = fleet["summary"]
    assert (summary["nodes"], summary["gpus"], summary["pendingPods"]) == (3, 4, 1)
    assert summary["usedGpus"] == 1.0 and summary["utilization"] == 0.25
    # Two H100 SXM at 11.00 and two L4 at 0.70 USD per GPU-hour (sim/prices.py defaults);
    # half of one H100 and half of one L4 in use.
    assert summary["costPerHour"] == pytest.approx(23.4)
    assert summary["usedCostPerHour"] == pytest.approx(5.85)
    assert summary["idleCostPerHour"] == pytest.approx(17.55)
    assert summary["unpricedModels"] == []


def test_the_pod_left_pending_carries_the_schedulers_message(fleet: dict[str, Any]) -> None:
    [pending] = fleet["pending"]
    assert pending["pod"] == "default/trainer" and pending["queue"] == "unschedulable"
    assert pending["message"].startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 cannot allocate all claims."
    )


def test_the_explanation_is_explains_document_and_only_for_pending_pods(
    offline: tuple[Published, Explainer],
) -> None:
    _, explain = offline
    answer = explain("default/trainer")
    assert answer is not None
    assert answer["pod"] == "default/trainer"
    assert answer["summary"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 cannot allocate all claims."
    )
    verdicts = {n["node"]: n["fits"] for n in answer["nodes"]}
    assert verdicts == {"dyn-00": False, "l4-00": False, "mig-00": False}
    [claim] = answer["claims"]
    assert claim["podClaim"] == "gpus" and claim["allocated"] is False
    assert explain("default/trainer") is answer  # computed once
    assert explain("default/finetune") is None  # running, not pending
    assert explain("default/nobody") is None


def test_a_cluster_queue_shows_usage_against_nominal_quota(fleet: dict[str, Any]) -> None:
    [queue] = fleet["queues"]
    assert queue["name"] == "team-a"
    assert (queue["admittedWorkloads"], queue["pendingWorkloads"]) == (3, 1)
    [flavor] = queue["flavors"]
    assert flavor["flavor"] == "h100"
    [resource] = flavor["resources"]
    assert resource == {
        "name": "nvidia.com/gpu",
        "nominal": "8",
        "used": "6",
        "borrowed": "0",
        "nominalValue": 8.0,
        "usedValue": 6.0,
    }


def test_a_cluster_queue_without_status_uses_nothing() -> None:
    queue = cluster_queue_json(
        {
            "metadata": {"name": "q"},
            "spec": {
                "cohortName": "all",
                "resourceGroups": [
                    {
                        "flavors": [
                            {"name": "f", "resources": [{"name": "cpu", "nominalQuota": "500m"}]}
                        ]
                    }
                ],
            },
        }
    )
    assert queue["cohort"] == "all"
    assert queue["flavors"][0]["resources"][0]["nominalValue"] == 0.5
    assert queue["flavors"][0]["resources"][0]["usedValue"] == 0.0


def test_the_history_keeps_a_bounded_number_of_samples(fleet: dict[str, Any]) -> None:
    published = Published(history_limit=3)
    for second in range(5):
        published.publish(fleet, Sample.of(float(second), fleet))
    samples = published.history()
    assert [s.time for s in samples] == [2.0, 3.0, 4.0]
    assert samples[-1].to_json()["utilization"] == 0.25
    assert published.latest()[0] == 5


def test_remembered_device_facts_give_the_plain_document_as_the_cache_changes() -> None:
    plan, frameworks = plan_schedule(
        read_cluster([str(DATA)]), SchedulerConfiguration(), Features(), None
    )
    cache = plan.cache
    remembering = FleetBuilder()
    assert remembering.build(cache) == build_fleet(cache)  # before scheduling
    schedule_queue(plan, frameworks, queue_order(plan))
    assert remembering.build(cache) == build_fleet(cache)  # claims allocated
    first = remembering.build(cache)
    finetune = next(k for k in cache.claims if k.startswith("default/finetune-"))
    cache.allocate_claim(finetune, None)
    after = remembering.build(cache)
    assert after == build_fleet(cache) and after != first  # an allocation undone
    kept = [e.slice for e in cache.inventory.slices if e.slice.spec.pool.name != "l4-00"]
    cache.replace_slices(kept)
    assert remembering.build(cache) == build_fleet(cache)  # a node's slices gone
    assert len(remembering.memory) == len(kept)  # and forgotten


def test_each_gpu_carries_the_catalogs_short_name(fleet: dict[str, Any]) -> None:
    names = {(g["model"], g["catalogName"]) for n in fleet["nodes"] for g in n["gpus"]}
    assert names == {("NVIDIA H100 80GB HBM3", "h100-80gb-sxm"), ("NVIDIA L4", "l4")}
    assert "notes" not in fleet  # no queued job in the input


def test_queued_jobs_are_admitted_as_dralloc_queue_admits_them() -> None:
    # `dralloc queue -f examples/queueing`: admitted 3 of 4 workloads, placed 7 of 7 pods;
    # team-a uses 8 of 16 GPUs (pretrain pending), team-b 12 of 8 (4 borrowed).
    examples = Path(__file__).parents[2] / "examples" / "queueing"
    published, _ = offline_dashboard(
        read_cluster([str(examples)]), SchedulerConfiguration(), Features(), now=1_800_000_000.0
    )
    _, document = published.latest()
    assert document is not None
    queues = {q["name"]: q for q in document["queues"]}
    assert (queues["team-a"]["admittedWorkloads"], queues["team-a"]["pendingWorkloads"]) == (1, 1)
    assert (queues["team-b"]["admittedWorkloads"], queues["team-b"]["pendingWorkloads"]) == (2, 0)
    gpus = {
        name: next(r for r in q["flavors"][0]["resources"] if r["name"].startswith("devices."))
        for name, q in queues.items()
    }
    assert (gpus["team-a"]["used"], gpus["team-a"]["nominal"], gpus["team-a"]["borrowed"]) == (
        "8",
        "16",
        "0",
    )
    assert (gpus["team-b"]["used"], gpus["team-b"]["borrowed"]) == ("12", "4")
    # The pending pretrain job's pods (suspended, so no claim in the cache) ask for 8 GPUs
    # each: the 4 GPUs left free, 2 per node, are all stranded.
    assert (document["summary"]["usedGpus"], document["summary"]["fragmentation"]) == (20, 1.0)
    assert document["notes"] == [
        "queues: Kueue's admission as `dralloc queue -f` runs it (3 of 4 workloads admitted, "
        "7 of 7 pods placed); the fleet shows the admitted jobs' pods where they were placed"
    ]
    # The fleet draws the admitted jobs' pods where `dralloc queue` placed them, each GPU's
    # claim reserved for its pod; the pending job's pods do not exist (its Job is suspended).
    run = run_queue(read_cluster([str(examples)]), SchedulerConfiguration(), Features())
    placed = {pod: node for pods in run.pods.values() for pod, node in pods}
    assert len(placed) == 7 and all(placed.values())
    drawn = {pod: n["name"] for n in document["nodes"] for pod in n["pods"]}
    assert {pod: drawn.get(pod) for pod in placed} == placed
    holders = {
        pod
        for n in document["nodes"]
        for g in n["gpus"]
        for d in g["devices"]
        for c in d["claims"]
        for pod in c["pods"]
    }
    assert set(placed) <= holders
    assert document["summary"]["usedGpus"] == 20  # team-a's 8 and team-b's 12
    assert document["pending"] == []
