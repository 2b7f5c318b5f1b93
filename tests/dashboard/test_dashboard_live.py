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
