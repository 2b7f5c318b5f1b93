"""The dashboard's HTTP server: the app's files, the JSON endpoints, server-sent events,
read-only (405), the bearer token off loopback, a failing explanation answered 500 while the
server goes on, and bad flags exit 2 naming the flag."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dralloc.cli.dashboard import price_book
from dralloc.cli.main import app
from dralloc.dashboard import DashboardServer, DashboardSettings, Published
from dralloc.errors import InputError

DATA = Path(__file__).parent / "data"
RUN = [sys.executable, "-c", "from dralloc.cli.main import run; run()"]


def _explain(pod: str) -> dict[str, Any] | None:
    if pod == "ns/boom":
        raise RuntimeError("explainer broke")
    return {"pod": pod} if pod in ("ns/waiting", "default/waiting") else None


@pytest.fixture
def server(fleet: dict[str, Any]) -> Iterator[DashboardServer]:
    published = Published()
    published.publish(fleet)
    started = DashboardServer.bind(DashboardSettings("127.0.0.1:0"), published, _explain)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def _request(
    server: DashboardServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_app_is_served_from_the_package_without_any_cdn(server: DashboardServer) -> None:
    status, headers, body = _request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert '<script src="/static/app.js">' in page and 'href="/static/app.css"' in page
    assert "http://" not in page and "https://" not in page
    for path, kind in (("/static/app.js", "text/javascript"), ("/static/app.css", "text/css")):
        status, headers, body = _request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
        assert b"https://" not in body


def test_fleet_and_history_are_json(server: DashboardServer, fleet: dict[str, Any]) -> None:
    status, headers, body = _request(server, "GET", "/api/fleet")
    assert status == 200 and headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document["version"] == 1 and document["nodes"] == fleet["nodes"]
    status, _, body = _request(server, "GET", "/api/history")
    assert status == 200 and json.loads(body)["samples"] == []
    status, _, body = _request(server, "HEAD", "/api/fleet")
    assert status == 200 and body == b""


def test_nothing_can_be_changed(server: DashboardServer) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/", "/api/fleet", "/api/explain?pod=ns/waiting"):
            status, headers, _ = _request(server, method, path)
            assert (status, headers["Allow"]) == (405, "GET, HEAD"), (method, path)


def test_explain_answers_for_pending_pods_and_survives_a_failure(server: DashboardServer) -> None:
    assert _request(server, "GET", "/api/explain?pod=ns/waiting")[0] == 200
    status, _, body = _request(server, "GET", "/api/explain?pod=ns/running")
    assert (status, json.loads(body)) == (404, {"error": "pod ns/running is not pending"})
    assert _request(server, "GET", "/api/explain")[0] == 400
    # A name alone is in the default namespace, as kubectl takes it.
    status, _, body = _request(server, "GET", "/api/explain?pod=waiting")
    assert (status, json.loads(body)) == (200, {"pod": "default/waiting"})
    status, _, body = _request(server, "GET", "/api/explain?pod=running")
    assert (status, json.loads(body)) == (404, {"error": "pod default/running is not pending"})
    assert _request(server, "GET", "/api/explain?pod=ns/boom")[0] == 500
    assert _request(server, "GET", "/api/fleet")[0] == 200
    assert _request(server, "GET", "/api/nothing")[0] == 404


def test_no_document_yet_is_503() -> None:
    server = DashboardServer.bind(DashboardSettings("127.0.0.1:0"))
    server.start()
    try:
        assert _request(server, "GET", "/api/fleet")[0] == 503
    finally:
        server.stop()


def _read_event(stream: Any) -> dict[str, Any]:
    lines = []
    while True:
        line = stream.readline().decode()
        if line == "\n":
            break
        lines.append(line.rstrip("\n"))
    assert lines[0] == "event: fleet"
    return dict(json.loads(lines[1].removeprefix("data: ")))


def test_events_stream_the_document_on_connect_and_on_every_publish(
    server: DashboardServer, fleet: dict[str, Any]
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        assert _read_event(response)["version"] == 1
        server.published.publish({**fleet, "source": "changed"})
        event = _read_event(response)
        assert (event["version"], event["source"]) == (2, "changed")
    finally:
        connection.close()


def test_a_token_guards_the_data_but_not_the_apps_files(fleet: dict[str, Any]) -> None:
    published = Published()
    published.publish(fleet)
    server = DashboardServer.bind(DashboardSettings("127.0.0.1:0", "s3cret"), published)
    server.start()
    try:
        assert _request(server, "GET", "/")[0] == 200
        status, headers, _ = _request(server, "GET", "/api/fleet")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer nope"}
        assert _request(server, "GET", "/api/fleet", wrong)[0] == 401
        right = {"Authorization": "Bearer s3cret"}
        assert _request(server, "GET", "/api/fleet", right)[0] == 200
        assert _request(server, "GET", "/api/fleet?access_token=s3cret")[0] == 200
    finally:
        server.stop()


def test_off_loopback_a_token_is_required_before_anything_listens() -> None:
    with pytest.raises(InputError) as caught:
        DashboardServer.bind(DashboardSettings("0.0.0.0:0"))
    assert str(caught.value) == (
        "--dashboard-token-file: --dashboard 0.0.0.0:0 is not a loopback address: a bearer "
        "token is required (a file holding it, or DRALLOC_DASHBOARD_TOKEN)"
    )


def _dralloc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUN, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.usefixtures("root_logging")
def test_a_port_in_use_exits_2_naming_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _dralloc("dashboard", "-f", str(DATA), "--address", f"127.0.0.1:{port}")
        # The scheduler's --dashboard binds through the same code, before it starts.
        live = CliRunner().invoke(app, ["scheduler", "--dashboard", f"127.0.0.1:{port}"])
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"--address: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert isinstance(live.exception, InputError)
    assert str(live.exception) == (
        f"--dashboard: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_an_address_without_a_port_is_refused_naming_the_flag() -> None:
    result = CliRunner().invoke(app, ["dashboard", "-f", str(DATA), "--address", "localhost"])
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == "--address: want host:port (port 0-65535), got 'localhost'"


def test_the_offline_command_serves_until_its_time_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRALLOC_DASHBOARD_TOKEN", raising=False)
    args = ["dashboard", "-f", str(DATA), "--address", "127.0.0.1:0", "--for", "0.1"]
    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(app, args)
    assert signal.getsignal(signal.SIGTERM) is before  # the process's handlers given back
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        r"dashboard on http://127\.0\.0\.1:\d+/ \(3 nodes, 4 GPUs, 1 pod pending\); "
        r"Ctrl-C stops\n",
        result.stderr,
    )


@pytest.mark.parametrize("seconds", ["-1", "0", "nan"])
def test_a_duration_that_is_not_positive_exits_2_naming_the_flag(seconds: str) -> None:
    result = CliRunner().invoke(app, ["dashboard", "-f", str(DATA), "--for", seconds])
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == f"--for: {float(seconds):g} is not a number of seconds > 0"


def test_a_price_for_an_unknown_model_exits_2_naming_the_flag() -> None:
    args = ["dashboard", "-f", str(DATA), "--price", "h100-80gb-sxm=9,a100-80gb-mp=2"]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, InputError)
    message = str(result.exception)
    assert message.startswith("--price: unknown GPU model 'a100-80gb-mp'; known: a10, a100-40gb,")
    # A product name, as devices publish it, is a known model too.
    assert price_book("NVIDIA L4=0.5").price("NVIDIA L4") == 0.5


def test_verbose_lists_what_is_really_set_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRALLOC_DASHBOARD_TOKEN", raising=False)
    examples = Path(__file__).parents[2] / "examples" / "queueing"
    args = ["dashboard", "-f", str(examples), "--address", "127.0.0.1:0", "--for", "0.01", "-v"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    # The Kueue objects admit the Jobs (as `dralloc queue` does) and their pods are drawn:
    # nothing is set aside.
    assert not first.startswith("set aside"), first
    # Without a ClusterQueue, nothing admits them: they stay suspended, and -v says so.
    args = [
        *args[:1],
        "-f",
        str(examples / "00-cluster.yaml"),
        "-f",
        str(examples / "20-jobs.yaml"),
    ]
    result = CliRunner().invoke(app, [*args, "--address", "127.0.0.1:0", "--for", "0.01", "-v"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].endswith(
        "4 Job queued for Kueue, suspended: no ClusterQueue (see dralloc queue)"
    )
