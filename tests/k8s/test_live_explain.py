"""`dralloc explain --kubeconfig` and `dralloc schedule --kubeconfig` against a real
kube-apiserver: the cluster's objects give the same answers as the same objects dumped to files,
a bound pod holds its devices, nothing is written, and a server that cannot be read is one line.

No scheduler runs here: pods created without `spec.nodeName` stay pending, and a pod created
with it is bound (its claim's allocation written as a scheduler would write it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer, Kubectl, free_port
from livekit import NODE_STATUS, claim, device_class, gpu_slice, node, pod

pytestmark = pytest.mark.k8s

DRALLOC = Path(sys.executable).with_name("dralloc")
# Every kind `dralloc.kube.readcluster` reads, as kubectl names them.
READ_KINDS = (
    "nodes,pods,resourceslices,deviceclasses,resourceclaims,resourceclaimtemplates,priorityclasses"
)


def _dralloc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DRALLOC), *args], capture_output=True, text=True, timeout=300, check=False
    )


def _suffix() -> str:
    return uuid.uuid4().hex[:6]


def _create(apiserver: ApiServer, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = apiserver.admin.create(path, obj).raise_for_status().body
    return created


def _gpu_node(apiserver: ApiServer, name: str, devices: int, driver: str) -> None:
    _create(apiserver, "/api/v1/nodes", node(name))
    apiserver.admin.patch_status(f"/api/v1/nodes/{name}", NODE_STATUS).raise_for_status()
    _create(apiserver, "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(name, devices, driver))


def _pending_pod(apiserver: ApiServer, namespace: str, name: str, claim_name: str) -> None:
    body = pod(namespace, name, claim_name=claim_name, scheduler="default-scheduler")
    _create(apiserver, f"/api/v1/namespaces/{namespace}/pods", body)


def _claim(apiserver: ApiServer, namespace: str, name: str, klass: str, count: int = 1) -> None:
    _create(
        apiserver,
        f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims",
        claim(namespace, name, klass, count),
    )


def _resource_versions(kubectl: Kubectl) -> dict[tuple[str, str, str], str]:
    listed = json.loads(kubectl("get", READ_KINDS, "-A", "-o", "json").stdout)
    return {
        (
            item["kind"],
            item["metadata"].get("namespace", ""),
            item["metadata"]["name"],
        ): item["metadata"]["resourceVersion"]
        for item in listed["items"]
    }


def _items(stdout: str) -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads(stdout)
    return {
        (item["kind"], f"{item['metadata'].get('namespace', '')}/{item['metadata']['name']}"): item
        for item in document["items"]
    }


def test_a_pending_pod_whose_claim_cannot_fit_is_explained_as_offline_from_a_dump(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    s = _suffix()
    driver = f"gpu-{s}.example.com"
    _gpu_node(apiserver, f"small-{s}", 1, driver)
    _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", device_class(f"gpu-{s}", driver))
    _claim(apiserver, namespace, "two-gpus", f"gpu-{s}", count=2)
    _pending_pod(apiserver, namespace, "trainer", "two-gpus")

    live = _dralloc(
        "explain", "--kubeconfig", str(apiserver.admin_kubeconfig), "--pod", f"{namespace}/trainer"
    )
    dump = tmp_path / "cluster.json"
    dump.write_text(kubectl("get", READ_KINDS, "-A", "-o", "json").stdout)
    offline = _dralloc("explain", "-f", str(dump), "--pod", f"{namespace}/trainer")

    assert live.returncode == 1, live.stderr
    assert f"pod {namespace}/trainer: pending: 0/" in live.stdout
    assert f"claim {namespace}/two-gpus" in live.stdout
    assert (live.returncode, live.stdout) == (offline.returncode, offline.stdout)


def test_explain_of_a_claim_reads_it_from_the_cluster(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    s = _suffix()
    driver = f"gpu-{s}.example.com"
    _gpu_node(apiserver, f"one-{s}", 1, driver)
    _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", device_class(f"gpu-{s}", driver))
    _claim(apiserver, namespace, "one-gpu", f"gpu-{s}")

    live = _dralloc(
        "explain",
        "--kubeconfig",
        str(apiserver.admin_kubeconfig),
        "--claim",
        f"{namespace}/one-gpu",
        "--node",
        f"one-{s}",
    )

    assert live.returncode == 0, live.stderr
    assert f"one-{s}" in live.stdout


def test_schedule_of_a_file_against_the_cluster_prints_the_node_and_writes_nothing(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    s = _suffix()
    driver = f"gpu-{s}.example.com"
    _gpu_node(apiserver, f"roomy-{s}", 2, driver)
    _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", device_class(f"gpu-{s}", driver))
    _claim(apiserver, namespace, "waiting-gpu", f"gpu-{s}")
    _pending_pod(apiserver, namespace, "waiting", "waiting-gpu")
    new = tmp_path / "new.yaml"
    new.write_text(
        json.dumps(claim(namespace, "new-gpu", f"gpu-{s}"))
        + "\n---\n"
        + json.dumps(pod(namespace, "new", claim_name="new-gpu", scheduler="default-scheduler"))
    )
    before = _resource_versions(kubectl)

    run = _dralloc(
        "schedule", "--kubeconfig", str(apiserver.admin_kubeconfig), "-f", str(new), "-o", "json"
    )
    after = _resource_versions(kubectl)

    assert run.returncode == 0, run.stderr
    items = _items(run.stdout)
    assert items["Pod", f"{namespace}/new"]["spec"]["nodeName"] == f"roomy-{s}"
    allocated = items["ResourceClaim", f"{namespace}/new-gpu"]["status"]["allocation"]
    assert allocated["devices"]["results"][0]["pool"] == f"roomy-{s}"
    assert ("Pod", f"{namespace}/waiting") not in items
    assert re.search(
        r"^note: \d+ pending pods? of the cluster stays? pending, not tried", run.stderr, re.M
    ), run.stderr
    assert "scheduled 1 of 1 pending pods" in run.stderr
    assert after == before


def test_include_pending_tries_the_clusters_pending_pods_in_queue_order(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    s = _suffix()
    driver = f"gpu-{s}.example.com"
    _gpu_node(apiserver, f"single-{s}", 1, driver)
    _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", device_class(f"gpu-{s}", driver))
    _claim(apiserver, namespace, "first-gpu", f"gpu-{s}")
    _pending_pod(apiserver, namespace, "first", "first-gpu")
    later = tmp_path / "later.yaml"
    later.write_text(
        json.dumps(claim(namespace, "later-gpu", f"gpu-{s}"))
        + "\n---\n"
        + json.dumps(pod(namespace, "later", claim_name="later-gpu", scheduler="default-scheduler"))
    )

    run = _dralloc(
        "schedule",
        "--kubeconfig",
        str(apiserver.admin_kubeconfig),
        "-f",
        str(later),
        "--include-pending",
        "-o",
        "json",
    )

    items = _items(run.stdout)
    # The cluster's pod came first: it takes the one GPU, and the file's pod finds none.
    assert items["Pod", f"{namespace}/first"]["spec"]["nodeName"] == f"single-{s}"
    assert "nodeName" not in items["Pod", f"{namespace}/later"]["spec"]
    assert run.returncode == 1, run.stderr
    assert "not tried" not in run.stderr


def test_a_bound_pod_holds_its_devices_on_its_node(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    s = _suffix()
    driver = f"gpu-{s}.example.com"
    name = f"busy-{s}"
    _gpu_node(apiserver, name, 1, driver)
    _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", device_class(f"gpu-{s}", driver))
    _claim(apiserver, namespace, "held", f"gpu-{s}")
    bound = pod(namespace, "running", claim_name="held", scheduler="default-scheduler")
    bound["spec"]["nodeName"] = name
    created = _create(apiserver, f"/api/v1/namespaces/{namespace}/pods", bound)
    allocation = {
        "devices": {
            "results": [{"request": "gpu", "driver": driver, "pool": name, "device": "gpu-0"}]
        },
        "nodeSelector": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name]}]}
            ]
        },
    }
    reserved = [{"resource": "pods", "name": "running", "uid": created["metadata"]["uid"]}]
    apiserver.admin.patch_status(
        f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/held",
        {"status": {"allocation": allocation, "reservedFor": reserved}},
    ).raise_for_status()
    new = tmp_path / "new.yaml"
    new.write_text(
        json.dumps(claim(namespace, "wanted", f"gpu-{s}"))
        + "\n---\n"
        + json.dumps(pod(namespace, "newcomer", claim_name="wanted", scheduler="default-scheduler"))
    )

    run = _dralloc(
        "schedule", "--kubeconfig", str(apiserver.admin_kubeconfig), "-f", str(new), "-o", "json"
    )
    explained = _dralloc(
        "explain",
        "--kubeconfig",
        str(apiserver.admin_kubeconfig),
        "-f",
        str(new),
        "--pod",
        f"{namespace}/newcomer",
        "--claim",
        "gpu",
        "--all",
        "--node",
        name,
    )
    running = _dralloc(
        "explain", "--kubeconfig", str(apiserver.admin_kubeconfig), "--pod", f"{namespace}/running"
    )

    assert run.returncode == 1, run.stderr
    assert "nodeName" not in _items(run.stdout)["Pod", f"{namespace}/newcomer"]["spec"]
    assert explained.returncode == 1, explained.stderr
    assert re.search(rf"gpu-0\s.*in use.*by {namespace}/held", explained.stdout), explained.stdout
    assert running.returncode == 0, running.stderr
    assert running.stdout.startswith(f"pod {namespace}/running: running on node {name}")


def test_an_api_server_that_cannot_be_reached_is_one_line_and_exit_3(
    apiserver: ApiServer, tmp_path: Path
) -> None:
    text = apiserver.admin_kubeconfig.read_text()
    port = free_port()
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(re.sub(r"https://127\.0\.0\.1:\d+", f"https://127.0.0.1:{port}", text))

    run = _dralloc("explain", "--kubeconfig", str(unreachable), "--pod", "default/p")

    assert run.returncode == 3
    assert run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the API server at https://127.0.0.1:{port}")


def test_a_forbidden_list_is_one_line_naming_the_resource_and_exit_3(
    apiserver: ApiServer, tmp_path: Path
) -> None:
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(json.dumps(pod("default", "p", scheduler="default-scheduler")))

    run = _dralloc(
        "schedule", "--kubeconfig", str(apiserver.dralloc_kubeconfig), "-f", str(pod_file)
    )

    assert run.returncode == 3
    [line] = run.stderr.splitlines()
    assert re.match(
        r"error: the API server at https://127\.0\.0\.1:\d+ refused to list \S+ "
        r"\(403 Forbidden\)",
        line,
    ), line


def test_a_kubeconfig_that_does_not_exist_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.kubeconfig"

    run = _dralloc("explain", "--kubeconfig", str(missing), "--pod", "default/p")

    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"{missing}: no such file"]


def test_pods_of_another_scheduler_are_left_to_it_and_config_names_the_profile(
    apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    s = _suffix()
    driver = f"gpu-{s}.example.com"
    _gpu_node(apiserver, f"ours-{s}", 1, driver)
    _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", device_class(f"gpu-{s}", driver))
    _claim(apiserver, namespace, "ours-gpu", f"gpu-{s}")
    pods = f"/api/v1/namespaces/{namespace}/pods"
    _create(apiserver, pods, pod(namespace, "ours", claim_name="ours-gpu", scheduler="dralloc"))
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "profiles:\n"
        "- schedulerName: dralloc\n"
    )
    kubeconfig = str(apiserver.admin_kubeconfig)
    try:
        default = _dralloc("explain", "--kubeconfig", kubeconfig, "--pod", f"{namespace}/ours")
        configured = _dralloc(
            "explain",
            "--kubeconfig",
            kubeconfig,
            "--config",
            str(config),
            "--pod",
            f"{namespace}/ours",
        )
        included = _dralloc(
            "schedule", "--kubeconfig", kubeconfig, "--include-pending", "-o", "json"
        )
    finally:
        apiserver.admin.delete(f"{pods}/ours").raise_for_status()

    assert default.returncode == 2
    assert default.stderr.splitlines() == [
        f"cluster:{apiserver.url}: Pod {namespace}/ours: spec.schedulerName: no profile "
        "'dralloc' in the configuration (profiles: default-scheduler)"
    ]
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.startswith(
        f"pod {namespace}/ours: fits; kube-scheduler picks node ours-{s}"
    )
    assert ("Pod", f"{namespace}/ours") not in _items(included.stdout)
    assert re.search(
        r"^note: \d+ pending pods? of the cluster not tried: they name schedulers no profile "
        r"of the configuration is \(dralloc\)$",
        included.stderr,
        re.M,
    ), included.stderr


def test_context_picks_the_kubeconfig_context_and_an_unknown_one_is_exit_2(
    apiserver: ApiServer, namespace: str
) -> None:
    kubeconfig = str(apiserver.admin_kubeconfig)
    current = re.search(r"^current-context:\s*(\S+)", apiserver.admin_kubeconfig.read_text(), re.M)
    assert current is not None
    _create(
        apiserver,
        f"/api/v1/namespaces/{namespace}/pods",
        pod(namespace, "plain", scheduler="default-scheduler"),
    )

    chosen = _dralloc(
        "explain",
        "--kubeconfig",
        kubeconfig,
        "--context",
        current.group(1),
        "--pod",
        f"{namespace}/plain",
    )
    unknown = _dralloc(
        "explain",
        "--kubeconfig",
        kubeconfig,
        "--context",
        "nowhere",
        "--pod",
        f"{namespace}/plain",
    )

    assert chosen.returncode in (0, 1), chosen.stderr
    assert chosen.stdout.startswith(f"pod {namespace}/plain: ")
    assert unknown.returncode == 2
    [line] = unknown.stderr.splitlines()
    assert line.startswith(f"{kubeconfig}: "), line
