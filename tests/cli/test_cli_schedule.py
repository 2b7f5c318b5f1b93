"""`dralloc schedule`: the offline what-if contract (output shape, queue order, exit codes 0, 1
and 2, exact stderr lines, determinism with and without --seed, --config)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import typer
import yaml
from click.testing import Result
from typer.testing import CliRunner

from dralloc.cli.schedule import schedule_command

# The command as main.py registers it: `app.command("schedule")(schedule_command)`.
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    """dralloc (test harness)."""


app.command("schedule")(schedule_command)

# node-a and node-b have 4 cpus each; node-b also has two GPUs.
CLUSTER = """\
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {zone: b}}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {zone: a}}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.example.com"}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-b-gpu}
spec:
  driver: gpu.example.com
  nodeName: node-b
  pool: {name: node-b, generation: 1, resourceSliceCount: 1}
  devices: [{name: gpu-0}, {name: gpu-1}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: default}
spec:
  metadata:
    labels: {team: ml}
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
"""

GPU_TEMPLATE_CLAIM = "resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]"


def pod(name: str, cpu: str = "1", extra: str = "", status: str = "") -> str:
    """A pod in `default`; `extra` adds spec lines and `status` a status mapping (YAML)."""
    spec = textwrap.indent(textwrap.dedent(extra).strip(), "  ") + "\n" if extra else ""
    text = (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n"
        f"{spec}  containers:\n  - name: c\n    resources: {{requests: {{cpu: '{cpu}'}}}}\n"
    )
    return text + (f"status: {status}\n" if status else "")


def write(tmp_path: Path, *documents: str, name: str = "in.yaml") -> str:
    path = tmp_path / name
    path.write_text("---\n".join(documents), encoding="utf-8")
    return str(path)


def schedule(*args: str) -> Result:
    result = CliRunner().invoke(app, ["schedule", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stderr
    return result


def items(result: Result) -> list[dict[str, Any]]:
    document = yaml.safe_load(result.stdout)
    assert (document["apiVersion"], document["kind"], document["metadata"]) == ("v1", "List", {})
    found = document["items"]
    assert isinstance(found, list)
    return found


def placements(result: Result) -> dict[str, str | None]:
    return {
        item["metadata"]["name"]: item["spec"].get("nodeName")
        for item in items(result)
        if item["kind"] == "Pod"
    }


# ------------------------------------------------------------------------------- exit 0


def test_every_pending_pod_placed_exits_0_with_pods_then_generated_claims(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, pod("web"), pod("train", extra=GPU_TEMPLATE_CLAIM))
    result = schedule("-f", path)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["scheduled 2 of 2 pending pods"]
    web, train, claim = items(result)
    assert web == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
            # Priority admission's, without a global default class.
            "priority": 0,
            "preemptionPolicy": "PreemptLowerPriority",
            "nodeName": "node-a",  # a tie with node-b: the first in name order
        },
    }
    name = claim["metadata"]["name"]
    assert train["spec"]["nodeName"] == "node-b"
    assert train["status"] == {
        "resourceClaimStatuses": [{"name": "gpu", "resourceClaimName": name}]
    }
    assert name.startswith("train-gpu-") and len(name) == len("train-gpu-") + 5
    assert claim["kind"] == "ResourceClaim"
    assert claim["metadata"]["labels"] == {"team": "ml"}
    assert claim["metadata"]["annotations"] == {"resource.kubernetes.io/pod-claim-name": "gpu"}
    assert claim["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "train",
            "controller": True,
        }
    ]
    assert claim["status"]["allocation"]["devices"]["results"] == [
        {"request": "gpu", "driver": "gpu.example.com", "pool": "node-b", "device": "gpu-0"}
    ]
    assert claim["status"]["reservedFor"] == [{"resource": "pods", "name": "train", "uid": "train"}]


def test_an_input_claim_allocated_by_the_run_keeps_its_fields_and_follows_the_pods(
    tmp_path: Path,
) -> None:
    claim = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: shared, namespace: default, labels: {keep: me}}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {deviceClassName: gpu, count: 2}
"""
    users = [pod(n, extra="resourceClaims: [{name: g, resourceClaimName: shared}]") for n in "xy"]
    result = schedule("-f", write(tmp_path, CLUSTER, claim, *users))
    assert result.exit_code == 0
    x, y, out = items(result)
    assert (x["spec"]["nodeName"], y["spec"]["nodeName"]) == ("node-b", "node-b")
    assert out["metadata"] == {"name": "shared", "namespace": "default", "labels": {"keep": "me"}}
    assert [r["name"] for r in out["status"]["reservedFor"]] == ["x", "y"]
    assert [r["device"] for r in out["status"]["allocation"]["devices"]["results"]] == [
        "gpu-0",
        "gpu-1",
    ]


# ------------------------------------------------------------------------------- exit 1


def test_a_pod_that_fits_nowhere_gets_the_fit_error_and_exit_1(tmp_path: Path) -> None:
    stale = "{phase: Pending, conditions: [{type: PodScheduled, status: 'False', reason: Old}]}"
    path = write(tmp_path, CLUSTER, pod("huge", cpu="6", status=stale), pod("small"))
    result = schedule("-f", path)
    assert result.exit_code == 1
    # 6 cpus exceed either node's allocatable: no eviction could help.
    message = (
        "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    assert result.stderr.splitlines() == [
        f"pod default/huge: {message}",
        "scheduled 1 of 2 pending pods",
    ]
    huge, small = items(result)
    assert "nodeName" not in huge["spec"]
    assert huge["status"] == {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    }
    assert small["spec"]["nodeName"] == "node-a"


def test_a_namespace_selector_reads_the_labels_of_the_input_namespaces(tmp_path: Path) -> None:
    # Seen in tests/k8s/test_scheduler_differential.py (inter-pod-affinity-namespace-labels):
    # the Namespace is set aside as before, but kube-scheduler reads its labels.
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: blue, labels: {team: blue}}\n"
    store = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: store, namespace: blue, labels: {app: db}}\n"
        "spec:\n  nodeName: node-b\n  containers: [{name: c}]\n"
    )
    near = pod(
        "near",
        extra="""
        affinity:
          podAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: {matchLabels: {app: db}}
              namespaceSelector: {matchLabels: {team: blue}}
              topologyKey: zone
        """,
    )
    result = schedule("-f", write(tmp_path, CLUSTER, namespace, store, near))
    assert result.exit_code == 0, result.stderr
    assert placements(result) == {"near": "node-b"}


def test_a_pod_with_scheduling_gates_is_never_tried_and_says_so(tmp_path: Path) -> None:
    # Seen in tests/k8s/test_scheduler_differential.py (scheduling-gates): kube-scheduler's
    # SchedulingGates PreEnqueue holds the pod back, and the API server has given it the
    # SchedulingGated condition at creation.
    gated = pod("gated", extra="schedulingGates: [{name: example.com/quota}, {name: b}]")
    path = write(tmp_path, CLUSTER, gated, pod("free"))
    result = schedule("-f", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "pod default/gated: waiting for scheduling gates: [example.com/quota b]",
        "scheduled 1 of 2 pending pods",
    ]
    held, free = items(result)
    assert "nodeName" not in held["spec"]
    assert held["status"] == {
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }
        ],
    }
    assert free["spec"]["nodeName"] == "node-a"


def test_a_generated_claim_of_a_pending_pod_is_still_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        CLUSTER,
        pod("a", extra=GPU_TEMPLATE_CLAIM),
        pod("b", extra=GPU_TEMPLATE_CLAIM),
        pod("c", extra=GPU_TEMPLATE_CLAIM),
    )
    result = schedule("-f", path)
    assert result.exit_code == 1
    out = items(result)
    assert [i["kind"] for i in out] == ["Pod"] * 3 + ["ResourceClaim"] * 3
    assert [i["spec"].get("nodeName") for i in out[:3]] == ["node-b", "node-b", None]
    assert out[2]["status"]["conditions"][0]["message"] == (
        "0/2 nodes are available: 2 cannot allocate all claims. still not schedulable, "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    assert "allocation" not in out[5].get("status", {})


# --------------------------------------------------------------------------- queue order


def test_the_queue_takes_higher_priority_first_then_input_order(tmp_path: Path) -> None:
    # Each pod needs 3 of a node's 4 cpus: the first two popped get the two nodes.
    path = write(
        tmp_path,
        CLUSTER,
        pod("first", cpu="3"),
        pod("second", cpu="3"),
        pod("urgent", cpu="3", extra="priorityClassName: high"),
    )
    result = schedule("-f", path)
    assert result.exit_code == 1
    assert placements(result) == {"first": "node-b", "second": None, "urgent": "node-a"}


DEFAULT_CLASS = (
    "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
    "metadata: {name: batch}\nvalue: 10\nglobalDefault: true\n"
)


def test_priority_comes_from_spec_then_class_then_the_global_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        CLUSTER,
        DEFAULT_CLASS,
        pod("defaulted", cpu="3"),  # 10 from the global default
        # Carried without a class: admitted before the default class existed.
        pod("explicit", cpu="3", extra="priority: 5"),
        pod("critical", cpu="3", extra="priorityClassName: system-node-critical"),
    )
    result = schedule("-f", path)
    assert placements(result) == {"defaulted": "node-b", "explicit": None, "critical": "node-a"}


def test_a_priority_its_class_contradicts_is_refused_as_admission_refuses_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, CLUSTER, pod("explicit", extra="priorityClassName: high\npriority: 5"))
    result = schedule("-f", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}: Pod default/explicit: spec.priority: the integer value of priority (5) must "
        "not be provided in pod spec; priority admission controller computed 1000 from the "
        "given PriorityClass name"
    ]


# ---------------------------------------------------------------------------- running pods


def test_running_pods_hold_their_share_and_are_not_listed(tmp_path: Path) -> None:
    held = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: held, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {deviceClassName: gpu}
status:
  allocation:
    devices:
      results:
      - {request: gpu, driver: gpu.example.com, pool: node-b, device: gpu-0}
"""
    running = pod(
        "running",
        cpu="3",
        extra="nodeName: node-a\nresourceClaims: [{name: g, resourceClaimName: held}]",
    )
    path = write(tmp_path, CLUSTER, held, running, pod("p", cpu="3", extra=GPU_TEMPLATE_CLAIM))
    result = schedule("-f", path)
    assert result.exit_code == 0
    p, claim = items(result)
    assert p["metadata"]["name"] == "p"
    assert claim["status"]["allocation"]["devices"]["results"][0]["device"] == "gpu-1"
    spread = schedule("-f", write(tmp_path, CLUSTER, running, held, pod("q", cpu="3")))
    assert placements(spread) == {"q": "node-b"}


# ------------------------------------------------------------------------------- exit 2


def test_invalid_input_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    unallocated = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: idle, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {deviceClassName: gpu}
"""
    path = write(
        tmp_path,
        CLUSTER,
        unallocated,
        pod("a", extra="priorityClassName: nope"),
        pod("b", extra="nodeName: node-z"),
        pod("c", extra="nodeName: node-a\nresourceClaims: [{name: g, resourceClaimName: idle}]"),
        pod("f", extra=f"nodeName: node-a\n{GPU_TEMPLATE_CLAIM}"),
    )
    result = schedule("-f", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: Pod default/a: spec.priorityClassName: no PriorityClass 'nope' in the input",
        f"{path}: Pod default/b: spec.nodeName: node node-z is not in the input",
        f"{path}: Pod default/c: spec.resourceClaims[0].resourceClaimName: ResourceClaim "
        "default/idle of a running pod is not allocated",
        f"{path}: Pod default/f: spec.resourceClaims[0]: a running pod's claim must be created "
        "(no resourceClaimStatuses)",
    ]


def test_a_file_that_does_not_load_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: 3\n")
    result = schedule("-f", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}: Pod x: spec: wrong type: expected object, got integer"
    ]


def test_bad_feature_gates_exit_2() -> None:
    result = schedule("-f", "-", "--feature-gates", "Nope=true")
    assert result.exit_code == 2
    assert result.stderr.startswith("--feature-gates: unknown feature gate 'Nope'")


def test_a_plugin_error_is_a_scheduler_error_and_exits_3(tmp_path: Path) -> None:
    claim = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu
        selectors:
        - cel: {expression: 'device.attributes["gpu.example.com"].model == "x"'}
"""
    user = pod("p", extra="resourceClaims: [{name: g, resourceClaimName: c}]")
    result = schedule("-f", write(tmp_path, CLUSTER, claim, user))
    assert result.exit_code == 3
    message = (
        'running "DynamicResources" filter plugin: claim default/c: selector #0: CEL runtime '
        "error: no such key: model"
    )
    assert result.stderr.splitlines() == [
        f"pod default/p: {message}",
        "scheduled 0 of 1 pending pods",
    ]
    p, *claims = items(result)
    assert claims == []
    assert p["status"]["conditions"] == [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulerError", "message": message}
    ]


# -------------------------------------------------------------------------- determinism


def test_the_same_input_gives_the_same_output_with_and_without_a_seed(tmp_path: Path) -> None:
    pods = [pod(f"p{i}", extra=GPU_TEMPLATE_CLAIM if i % 3 == 0 else "") for i in range(6)]
    path = write(tmp_path, CLUSTER, *pods)
    assert schedule("-f", path).stdout == schedule("-f", path).stdout
    seeded = schedule("-f", path, "--seed", "7").stdout
    assert seeded == schedule("-f", path, "--seed", "7").stdout


def test_the_seed_breaks_ties_between_equal_nodes(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, pod("p"))
    assert placements(schedule("-f", path)) == {"p": "node-a"}
    chosen = {placements(schedule("-f", path, "--seed", str(s)))["p"] for s in range(10)}
    assert chosen == {"node-a", "node-b"}


def test_json_output_is_the_same_document(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, pod("web"), pod("train", extra=GPU_TEMPLATE_CLAIM))
    as_json = json.loads(schedule("-f", path, "-o", "json").stdout)
    assert as_json == yaml.safe_load(schedule("-f", path).stdout)


# ------------------------------------------------------------------------------- --config


CONFIG_HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def test_a_configured_profile_changes_the_placement_and_warns_about_missing_plugins(
    tmp_path: Path,
) -> None:
    config = write(
        tmp_path,
        CONFIG_HEAD
        + textwrap.dedent(
            """\
            leaderElection: {leaderElect: false}
            profiles:
            - schedulerName: default-scheduler
              plugins:
                multiPoint:
                  enabled: [{name: VolumeBinding}]
              pluginConfig:
              - name: NodeResourcesFit
                args:
                  scoringStrategy: {type: MostAllocated}
            - schedulerName: spread
            """
        ),
        name="sched.yaml",
    )
    pods = [pod("one"), pod("two"), pod("three", extra="schedulerName: spread")]
    path = write(tmp_path, CLUSTER, *pods)
    result = schedule("-f", path, "--config", config)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {config}: profiles[0].plugins.multiPoint.enabled[0].name: plugin "
        "VolumeBinding is not implemented by dralloc; ignored",
        "scheduled 3 of 3 pending pods",
    ]
    # MostAllocated packs "two" next to "one"; the spread profile puts "three" on the emptier node.
    assert placements(result) == {"one": "node-a", "two": "node-a", "three": "node-b"}


def test_config_problems_and_unknown_profiles_exit_2(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        CONFIG_HEAD
        + "profiles:\n- plugins:\n    filter:\n"
        + "      enabled: [{name: NodeResourcesBalancedAllocation}]\n",
        name="sched.yaml",
    )
    path = write(tmp_path, CLUSTER, pod("p"))
    result = schedule("-f", path, "--config", config)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{config}: KubeSchedulerConfiguration: profiles[0].plugins.filter.enabled[0]: plugin "
        '"NodeResourcesBalancedAllocation" is enabled at filter but defines no filter()'
    ]
    fine = write(tmp_path, CONFIG_HEAD + "profiles: [{schedulerName: gpu}]\n", name="ok.yaml")
    result = schedule("-f", path, "--config", fine)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}: Pod default/p: spec.schedulerName: no profile 'default-scheduler' in the "
        "configuration (profiles: gpu)"
    ]


def test_help_says_pods_may_be_preempted() -> None:
    result = CliRunner().invoke(app, ["schedule", "--help"])
    assert result.exit_code == 0
    assert "preempt lower-priority pods" in " ".join(result.stdout.split())


# ---------------------------------------------------------------------------- preemption

DISRUPTION = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "PreemptionByScheduler",
    "message": "default-scheduler: preempting to accommodate a higher priority pod",
}


def preempted_status(preemptor: str, node: str) -> dict[str, Any]:
    return {
        "phase": "Failed",
        "reason": "Preempted",
        "message": f"Preempted by pod default/{preemptor} on node {node}",
        "conditions": [DISRUPTION],
    }


def test_a_high_priority_pod_preempts_a_running_pod_which_is_listed_as_preempted(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        CLUSTER,
        pod("batch-a", cpu="3", extra="nodeName: node-a"),
        pod("batch-b", cpu="3", extra="nodeName: node-b"),
        pod("urgent", cpu="3", extra="priorityClassName: high"),
    )
    result = schedule("-f", path)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "pod default/batch-a: preempted by default/urgent on node node-a",
        "scheduled 1 of 1 pending pods; preempted 1 pod",
    ]
    urgent, victim = items(result)
    assert urgent["spec"]["nodeName"] == "node-a"  # equal candidates: the first node
    assert "status" not in urgent
    assert victim == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "batch-a", "namespace": "default"},
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "3"}}}],
        },
        "status": preempted_status("urgent", "node-a"),
    }


def test_a_gpu_pod_preempts_the_pod_holding_the_gpus_and_the_claim_is_deallocated(
    tmp_path: Path,
) -> None:
    held = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: held, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {deviceClassName: gpu, count: 2}
status:
  allocation:
    devices:
      results:
      - {request: gpu, driver: gpu.example.com, pool: node-b, device: gpu-0}
      - {request: gpu, driver: gpu.example.com, pool: node-b, device: gpu-1}
  reservedFor: [{resource: pods, name: low-train, uid: low-train}]
"""
    running = pod(
        "low-train", extra="nodeName: node-b\nresourceClaims: [{name: g, resourceClaimName: held}]"
    )
    urgent = pod("urgent-train", extra=f"priorityClassName: high\n{GPU_TEMPLATE_CLAIM}")
    path = write(tmp_path, CLUSTER, held, running, urgent)
    # Kubernetes 1.36 never preempts for devices: the urgent pod waits.
    plain = schedule("-f", path)
    assert plain.exit_code == 1
    assert "Preemption is not helpful for scheduling" in plain.stderr
    assert "preempted" not in plain.stderr
    result = schedule("-f", path, "--preemption-frees-devices")
    assert result.exit_code == 0
    placed, victim, freed, generated = items(result)
    assert placed["spec"]["nodeName"] == "node-b"
    assert (victim["metadata"]["name"], victim["status"]) == (
        "low-train",
        preempted_status("urgent-train", "node-b"),
    )
    assert freed["metadata"] == {"name": "held", "namespace": "default"}
    assert freed["status"] == {}  # no allocation and nobody reserving it
    assert generated["status"]["allocation"]["devices"]["results"] == [
        {"request": "gpu", "driver": "gpu.example.com", "pool": "node-b", "device": "gpu-0"}
    ]
    assert generated["status"]["reservedFor"][0]["name"] == "urgent-train"


def test_a_pod_no_preemption_can_help_stays_pending_and_exits_1(tmp_path: Path) -> None:
    critical = "priorityClassName: system-cluster-critical"
    path = write(
        tmp_path,
        CLUSTER,
        pod("batch", cpu="3", extra="nodeName: node-a"),
        pod("system", cpu="3", extra=f"nodeName: node-b\n{critical}"),
        pod("first", cpu="3", extra="priorityClassName: high"),
        pod("second", cpu="3", extra="priorityClassName: high"),
    )
    result = schedule("-f", path)
    assert result.exit_code == 1
    message = (
        "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    )
    assert result.stderr.splitlines() == [
        f"pod default/second: {message}",
        "pod default/batch: preempted by default/first on node node-a",
        "scheduled 1 of 2 pending pods; preempted 1 pod",
    ]
    first, second, victim = items(result)
    assert first["spec"]["nodeName"] == "node-a"
    assert second["status"]["conditions"][0]["message"] == message
    assert victim["metadata"]["name"] == "batch"


def test_output_with_preemption_is_the_same_on_every_run(tmp_path: Path) -> None:
    running = [pod(f"r{i}", cpu="2", extra=f"nodeName: node-{'ab'[i % 2]}") for i in range(4)]
    pending = [pod(f"u{i}", cpu="2", extra="priorityClassName: high") for i in range(3)]
    path = write(tmp_path, CLUSTER, *running, *pending)
    plain = schedule("-f", path)
    assert plain.stdout == schedule("-f", path).stdout
    assert plain.stderr.splitlines()[-1] == "scheduled 3 of 3 pending pods; preempted 3 pods"
    seeded = schedule("-f", path, "--seed", "3")
    assert seeded.stdout == schedule("-f", path, "--seed", "3").stdout
    assert json.loads(schedule("-f", path, "-o", "json").stdout) == yaml.safe_load(plain.stdout)


def test_a_profile_without_default_preemption_evicts_nothing(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        CONFIG_HEAD + "profiles:\n- plugins:\n    postFilter:\n"
        "      disabled: [{name: DefaultPreemption}]\n",
        name="sched.yaml",
    )
    path = write(
        tmp_path,
        CLUSTER,
        pod("batch-a", cpu="3", extra="nodeName: node-a"),
        pod("batch-b", cpu="3", extra="nodeName: node-b"),
        pod("urgent", cpu="3", extra="priorityClassName: high"),
    )
    result = schedule("-f", path, "--config", config)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "pod default/urgent: 0/2 nodes are available: 2 Insufficient cpu. "
        "no new claims to deallocate",
        "scheduled 0 of 1 pending pods",
    ]
    assert placements(result) == {"urgent": None}


def test_bad_default_preemption_args_exit_2_with_the_config_path(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        CONFIG_HEAD + "profiles:\n- pluginConfig:\n  - name: DefaultPreemption\n"
        "    args: {minCandidateNodesPercentage: 200}\n",
        name="sched.yaml",
    )
    result = schedule("-f", write(tmp_path, CLUSTER, pod("p")), "--config", config)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{config}: KubeSchedulerConfiguration: profiles[0].pluginConfig[0].args."
        "minCandidateNodesPercentage: must be in 0..100, got 200"
    ]


NON_PREEMPTING = (
    "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
    "metadata: {name: high-polite}\nvalue: 1000\npreemptionPolicy: Never\n"
)


def test_a_pod_whose_class_says_never_waits_instead_of_preempting(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        CLUSTER,
        NON_PREEMPTING,
        pod("batch-a", cpu="3", extra="nodeName: node-a"),
        pod("batch-b", cpu="3", extra="nodeName: node-b"),
        pod("polite", cpu="3", extra="priorityClassName: high-polite"),
    )
    result = schedule("-f", path)
    assert result.exit_code == 1
    (polite,) = items(result)
    message = polite["status"]["conditions"][0]["message"]
    assert message.endswith("preemption: not eligible due to preemptionPolicy=Never.")


def test_an_unknown_preemption_policy_is_invalid_input(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, pod("p", extra="preemptionPolicy: Sometimes"))
    result = schedule("-f", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}: Pod default/p: spec.preemptionPolicy: unsupported value 'Sometimes': "
        'supported values: "PreemptLowerPriority", "Never"'
    ]


# ------------------------------------------------------------------------ workloads

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: infer, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: infer}}
  template:
    metadata: {labels: {app: infer}}
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai
        resources:
          limits: {cpu: "1"}
          claims: [{name: gpu}]
      resourceClaims:
      - name: gpu
        resourceClaimTemplateName: one-gpu
"""


def test_a_deployment_becomes_pods_with_claims_from_templates_grouped_by_owner(
    tmp_path: Path,
) -> None:
    result = schedule("-f", write(tmp_path, CLUSTER, DEPLOYMENT), "--seed", "3")
    assert result.exit_code == 1  # two GPUs for three replicas
    pods = [i for i in items(result) if i["kind"] == "Pod"]
    assert len(pods) == 3
    rs_names = {p["metadata"]["ownerReferences"][0]["name"] for p in pods}
    (rs,) = rs_names
    assert rs.startswith("infer-")
    assert all(p["metadata"]["name"].startswith(f"{rs}-") for p in pods)
    assert all(p["metadata"]["labels"]["pod-template-hash"] == rs[len("infer-") :] for p in pods)
    # limits-only containers ask for what they limit, as the API server defaults them
    assert pods[0]["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1"}
    placed = [p["spec"].get("nodeName") for p in pods]
    assert sorted(n or "" for n in placed) == ["", "node-b", "node-b"]
    claims = [i for i in items(result) if i["kind"] == "ResourceClaim"]
    assert len(claims) == 3
    assert sum(1 for c in claims if c.get("status", {}).get("allocation")) == 2
    assert "Deployment default/infer: made 3 pod(s), 2 placed" in result.stderr


def test_an_indexed_job_makes_its_first_parallel_pods_with_hostnames(tmp_path: Path) -> None:
    job = """\
apiVersion: batch/v1
kind: Job
metadata: {name: train, namespace: default}
spec:
  completions: 4
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: t, image: pytorch, resources: {requests: {cpu: "1"}}}]
"""
    result = schedule("-f", write(tmp_path, CLUSTER, job))
    assert result.exit_code == 0
    pods = [i for i in items(result) if i["kind"] == "Pod"]
    assert [p["spec"]["hostname"] for p in pods] == ["train-0", "train-1"]
    assert [
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    ] == ["0", "1"]
    assert "note: Job default/train: 2 more pods once running ones succeed" in result.stderr


def test_workloads_read_again_beside_their_pods_make_no_more(tmp_path: Path) -> None:
    job = """\
apiVersion: batch/v1
kind: Job
metadata: {name: train, namespace: default}
spec:
  parallelism: 2
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: t, image: pytorch, resources: {requests: {cpu: "1"}}}]
"""
    source = write(tmp_path, CLUSTER, job, DEPLOYMENT.replace("replicas: 3", "replicas: 2"))
    first = schedule("-f", source)
    assert first.exit_code == 0, first.stderr
    placed = tmp_path / "placed.yaml"
    placed.write_text(first.stdout)
    again = schedule("-f", source, "-f", str(placed))
    assert again.exit_code == 0, again.stderr
    assert [i for i in items(again) if i["kind"] == "Pod"] == []
    assert "Job default/train: made 0 pod(s), 0 placed; 2 already there" in again.stderr
    assert "Deployment default/infer: made 0 pod(s), 0 placed; 2 already there" in again.stderr
