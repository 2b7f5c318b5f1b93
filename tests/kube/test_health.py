"""The metrics and health endpoint over a real loopback socket: /metrics in the format the
scraper asks for, /healthz and /readyz following their checks, 404 elsewhere."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dralloc.errors import InputError
from dralloc.kube.health import BindAddress, HealthServer
from dralloc.kube.metrics import AttemptResult, SchedulerMetrics


def _get(
    url: str, method: str = "GET", accept: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    if accept is not None:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


async def _fetch(
    url: str, method: str = "GET", accept: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, url, method, accept)


def _serving(server: HealthServer, scenario: Callable[[HealthServer], Awaitable[None]]) -> None:
    async def main() -> None:
        await server.start()
        try:
            await scenario(server)
        finally:
            await server.stop()

    asyncio.run(main())


def test_metrics_are_served_in_the_prometheus_text_format() -> None:
    metrics = SchedulerMetrics()
    metrics.observe_attempt(AttemptResult.SCHEDULED, "dralloc", 0.002)

    async def scenario(server: HealthServer) -> None:
        status, headers, body = await _fetch(f"{server.url}/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        samples = families["scheduler_schedule_attempts"].samples
        assert any(
            s.labels == {"result": "scheduled", "profile": "dralloc"} and s.value == 1
            for s in samples
        )

    _serving(HealthServer(metrics.registry, address="127.0.0.1:0"), scenario)


def test_a_scraper_asking_for_openmetrics_gets_openmetrics() -> None:
    metrics = SchedulerMetrics()

    async def scenario(server: HealthServer) -> None:
        accept = "application/openmetrics-text; version=1.0.0"
        status, headers, body = await _fetch(f"{server.url}/metrics", accept=accept)
        assert status == 200
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")

    _serving(HealthServer(metrics.registry, address="127.0.0.1:0"), scenario)


def test_healthz_and_readyz_follow_their_checks() -> None:
    state = {"healthy": True, "ready": False}

    def broken() -> bool:
        raise RuntimeError("no informers yet")

    async def scenario(server: HealthServer) -> None:
        assert (await _fetch(f"{server.url}/healthz"))[0::2] == (200, b"ok\n")
        assert (await _fetch(f"{server.url}/readyz"))[0::2] == (500, b"readyz check failed\n")
        state.update(healthy=False, ready=True)
        assert (await _fetch(f"{server.url}/healthz"))[0] == 500
        assert (await _fetch(f"{server.url}/readyz?verbose"))[0::2] == (200, b"ok\n")
        server.healthy = broken  # a check that raises counts as failed
        assert (await _fetch(f"{server.url}/healthz"))[0] == 500

    server = HealthServer(
        SchedulerMetrics().registry,
        address="127.0.0.1:0",
        healthy=lambda: state["healthy"],
        ready=lambda: state["ready"],
    )
    _serving(server, scenario)


def test_unknown_paths_are_404_and_other_methods_405() -> None:
    async def scenario(server: HealthServer) -> None:
        assert (await _fetch(f"{server.url}/"))[0] == 404
        assert (await _fetch(f"{server.url}/debug/pprof"))[0] == 404
        assert (await _fetch(f"{server.url}/healthz", method="POST"))[0] == 405
        status, headers, body = await _fetch(f"{server.url}/healthz", method="HEAD")
        assert (status, headers["Content-Length"], body) == (200, "3", b"")

    _serving(HealthServer(SchedulerMetrics().registry, address="127.0.0.1:0"), scenario)


def test_garbage_gets_400_and_the_server_keeps_serving() -> None:
    async def scenario(server: HealthServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"hello\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert (await _fetch(f"{server.url}/healthz"))[0] == 200

    _serving(HealthServer(SchedulerMetrics().registry, address="127.0.0.1:0"), scenario)


def test_port_zero_binds_a_free_loopback_port_and_stop_closes_it() -> None:
    async def main() -> None:
        server = HealthServer(SchedulerMetrics().registry, address="127.0.0.1:0")
        assert server.port == 0
        await server.start()
        port = server.port
        assert port > 0 and server.url == f"http://127.0.0.1:{port}"
        await server.stop()
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()

    asyncio.run(main())


def test_the_default_address_is_loopback() -> None:
    server = HealthServer(SchedulerMetrics().registry)
    assert server.address.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:10251", BindAddress("127.0.0.1", 10251)),
        ("0.0.0.0:0", BindAddress("0.0.0.0", 0)),
        ("[::1]:9000", BindAddress("::1", 9000)),
    ],
)
def test_bind_addresses_parse_and_print_back(text: str, address: BindAddress) -> None:
    assert BindAddress.parse(text) == address
    assert str(address) == text


@pytest.mark.parametrize("text", ["10251", "localhost", ":10251", "127.0.0.1:http", "h:70000"])
def test_a_malformed_bind_address_names_the_flag(text: str) -> None:
    with pytest.raises(InputError, match="--metrics-bind-address"):
        BindAddress.parse(text)
