"""The live dashboard's wiring without a cluster: a failing companion never stops the
process, and `dralloc scheduler`'s dashboard flags are checked before anything starts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.dashboard import DashboardServer, DashboardSettings, LiveDashboard
from dralloc.errors import InputError
from dralloc.kube.server import _run_companion


class _Broken:
    async def run(self, live: Any, informers: Any) -> None:
        raise RuntimeError("the dashboard broke")


def test_a_failing_companion_is_logged_and_nothing_else_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="dralloc.kube.server"):
        asyncio.run(_run_companion(_Broken(), None, None))  # type: ignore[arg-type]
    assert "_Broken stopped; the scheduler goes on" in caplog.text
    assert "RuntimeError: the dashboard broke" in caplog.text


def test_a_dashboard_without_a_running_scheduler_answers_nothing() -> None:
    server = DashboardServer.bind(DashboardSettings("127.0.0.1:0"))
    try:
        dashboard = LiveDashboard(server, lambda live, pod: {})
        assert dashboard.explain_threadsafe("default/trainer") is None
        assert dashboard.fingerprint() is None
        assert dashboard.document(0.0)["source"].startswith("live: no scheduler")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dashboard", "0.0.0.0:0"],
            "--dashboard-token-file: --dashboard 0.0.0.0:0 is not a loopback address: a bearer "
            "token is required (a file holding it, or DRALLOC_DASHBOARD_TOKEN)",
        ),
        (["--dashboard", "127.0.0.1:http"], "--dashboard: want host:port (port 0-65535), got"),
        (["--dashboard-token-file", "token"], "--dashboard-token-file: needs --dashboard"),
        (
            ["--dashboard", "127.0.0.1:0", "--dashboard-token-file", "missing-token"],
            "--dashboard-token-file: cannot read missing-token: No such file or directory",
        ),
    ],
)
@pytest.mark.usefixtures("root_logging")
def test_scheduler_dashboard_flags_are_checked_first(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRALLOC_DASHBOARD_TOKEN", raising=False)
    (tmp_path / "token").write_text("s3cret\n")
    result = CliRunner().invoke(app, ["scheduler", *args])
    assert isinstance(result.exception, InputError), result.output
    assert str(result.exception).startswith(message)


class _Informer:
    def __init__(self, group_version: str, plural: str, store: dict[str, Any]) -> None:
        self.resource = type("R", (), {"group_version": group_version, "plural": plural})()
        self.store = store


def _workload(name: str, admitted: bool) -> dict[str, Any]:
    pod_set = {
        "name": "main",
        "count": 2,
        "template": {
            "spec": {
                "containers": [{"name": "c", "image": "busybox"}],
                "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "two-gpus"}],
            }
        },
    }
    raw: dict[str, Any] = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": "team-a", "resourceVersion": "7"},
        "spec": {"queueName": "a", "podSets": [pod_set]},
    }
    if admitted:
        raw["status"] = {"admission": {"clusterQueue": "cq", "podSetAssignments": []}}
    return raw


def test_the_claims_of_workloads_kueue_has_not_admitted_are_weighed() -> None:
    template = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "two-gpus", "namespace": "team-a"},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "gpu",
                            "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2},
                        }
                    ]
                }
            }
        },
    }
    workloads = {"team-a/waits": _workload("waits", False), "team-a/runs": _workload("runs", True)}
    informers = type("I", (), {})()
    informers.informers = [
        _Informer("kueue.x-k8s.io/v1beta2", "workloads", workloads),
        _Informer("resource.k8s.io/v1", "resourceclaimtemplates", {"team-a/two-gpus": template}),
    ]
    server = DashboardServer.bind(DashboardSettings("127.0.0.1:0"))
    try:
        dashboard = LiveDashboard(server, lambda live, pod: {})
        dashboard._informers = informers
        claims = dashboard._held_claims()
    finally:
        server.stop()
    assert [f"{c.metadata.namespace}/{c.metadata.name}" for c in claims] == [
        "team-a/waits-main-0-gpu",
        "team-a/waits-main-1-gpu",
    ]
    assert all(c.spec.devices.requests[0].exactly.count == 2 for c in claims)  # type: ignore[union-attr]
    # Without the queue controller's informers there is nothing to weigh.
    dashboard._informers = type("I", (), {"informers": []})()
    assert dashboard._held_claims() == []
