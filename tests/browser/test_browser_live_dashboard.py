"""`dralloc scheduler --dashboard` against a real kube-apiserver (tests/k8s's harness), in a
real browser: the page shows the owned node's GPUs and the pod that cannot fit, explains it
on click, and, without reloading, shows a pod the scheduler binds afterwards (the page learns
it from the server-sent event stream).

Needs the upstream binaries tools/build.sh builds (skipped without them, as the `k8s` tests,
unless DRALLOC_REQUIRE_K8S=1) and Chromium (browserkit.py)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from browserkit import DESKTOP, PHONE, open_page

# The k8s harness (control plane, objects) lives beside these tests.
sys.path.insert(0, str(Path(__file__).parents[1] / "k8s"))
from controlplane import (
    ApiServer,
    Etcd,
    free_port,
    is_k8s_required,
    k8s_home,
    missing_binaries,
)
from livekit import NODE_STATUS, pod

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.k8s  # selected and deselected with the other control-plane tests

DRALLOC = Path(sys.executable).with_name("dralloc")
OWNER = "dashboard"
NAMESPACE = "default"
GPU_CLASS = "gpu.nvidia.com"


@pytest.fixture(scope="module")
def apiserver() -> Iterator[ApiServer]:
    missing = missing_binaries()
    if missing:
        why = f"{', '.join(missing)} not in {k8s_home() / 'bin'}: run tools/build.sh"
        if is_k8s_required():
            pytest.fail(f"{why} (DRALLOC_REQUIRE_K8S=1)", pytrace=False)
        pytest.skip(why)
    directory = Path(tempfile.mkdtemp(prefix="dralloc-dashboard-k8s-"))
    etcd = Etcd.start(directory / "etcd")
    try:
        server = ApiServer.start(etcd.client_url, directory / "apiserver")
        try:
            yield server
        finally:
            server.stop()
    finally:
        etcd.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _fleet_objects(tmp: Path) -> list[dict[str, Any]]:
    """One node with two L4s, as `dralloc cluster generate` publishes them, owned by dralloc."""
    out = tmp / "fleet.yaml"
    done = subprocess.run(
        [str(DRALLOC), "cluster", "generate", "--nodes", "1xl4:gpus=2", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    items = yaml.safe_load(out.read_text())["items"]
    return [i for i in items if i["kind"] != "DeviceClass" or i["metadata"]["name"] == GPU_CLASS]


def _create(apiserver: ApiServer, path: str, obj: dict[str, Any]) -> None:
    answer = apiserver.admin.create(path, obj)
    assert answer.status in (200, 201), answer


def _claim_template(name: str, count: int) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {"name": "gpu", "exactly": {"deviceClassName": GPU_CLASS, "count": count}}
                    ]
                }
            }
        },
    }


@pytest.fixture(scope="module")
def live_dashboard(apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("live-dashboard")
    for obj in _fleet_objects(tmp):
        kind = obj["kind"]
        if kind == "Node":
            obj["metadata"]["labels"]["dralloc.dev/owner"] = OWNER
            obj.pop("status", None)
            _create(apiserver, "/api/v1/nodes", obj)
            apiserver.admin.patch_status(f"/api/v1/nodes/{obj['metadata']['name']}", NODE_STATUS)
        elif kind == "ResourceSlice":
            _create(apiserver, "/apis/resource.k8s.io/v1/resourceslices", obj)
        elif kind == "DeviceClass":
            _create(apiserver, "/apis/resource.k8s.io/v1/deviceclasses", obj)
    templates = f"/apis/resource.k8s.io/v1/namespaces/{NAMESPACE}/resourceclaimtemplates"
    _create(apiserver, templates, _claim_template("one-gpu", 1))
    _create(apiserver, templates, _claim_template("three-gpus", 3))
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods"
    _create(apiserver, pods, pod(NAMESPACE, "infer", template="one-gpu"))
    _create(apiserver, pods, pod(NAMESPACE, "trainer", template="three-gpus"))
    port = free_port()
    log = tmp / "dralloc.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                *[str(DRALLOC), "scheduler", "--kubeconfig", str(apiserver.admin_kubeconfig)],
                *["--owned-nodes", f"dralloc.dev/owner={OWNER}", "--no-leader-elect"],
                *["--controllers", "scheduler,resourceclaim,gc"],
                *["--metrics-bind-address", f"127.0.0.1:{free_port()}"],
                *["--dashboard", f"127.0.0.1:{port}"],
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            code = None
        assert code == 0, log.read_text(errors="replace")


def _bound(apiserver: ApiServer, name: str) -> bool:
    got = apiserver.admin.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
    return bool(got.status == 200 and got.body["spec"].get("nodeName"))


def test_the_live_dashboard_explains_and_follows_the_cluster(
    browser: Browser, apiserver: ApiServer, live_dashboard: str, artifacts: Path
) -> None:
    deadline = time.monotonic() + 60
    while not _bound(apiserver, "infer"):
        assert time.monotonic() < deadline, "pod infer never bound"
        time.sleep(0.2)
    probe = open_page(browser, live_dashboard, width=DESKTOP[0], height=DESKTOP[1])
    page = probe.page
    page.wait_for_selector("#pending li[data-pod='default/trainer']", timeout=30000)
    page.wait_for_selector("#fleet [data-gpu] .seg.used", timeout=30000)
    assert page.eval_on_selector_all("#fleet [data-node]", "e => e.length") == 1
    assert page.locator("#fleet [data-gpu]").count() == 2
    assert page.inner_text("#status") == "live"
    used = page.locator("#fleet .seg.used[data-device]")
    assert used.count() == 1 and "default/infer" in (used.get_attribute("title") or "")
    page.click("#pending li[data-pod='default/trainer']")
    page.wait_for_selector("#explanation[data-state='done']", timeout=30000)
    assert "cannot allocate all claims" in page.inner_text("#explanation")
    probe.screenshot(artifacts, "dashboard-live-desktop")

    # Nothing reloads the page from here on: the event stream brings the change.
    page.evaluate("() => { window.stillTheSamePage = true; }")
    version = int(page.evaluate("() => document.body.dataset.version"))
    _create(
        apiserver,
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        pod(NAMESPACE, "second", template="one-gpu"),
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#fleet .seg.used[data-device]')]"
        ".some(s => s.title.includes('default/second'))",
        timeout=30000,
    )
    assert _bound(apiserver, "second")
    assert page.evaluate("() => window.stillTheSamePage") is True
    assert int(page.evaluate("() => document.body.dataset.version")) > version
    assert page.inner_text("#summary [data-metric='utilization'] .value") == "100.0%"
    assert probe.errors == []
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    probe.screenshot(artifacts, "dashboard-live-phone")
    assert not probe.has_horizontal_overflow()
    page.context.close()
