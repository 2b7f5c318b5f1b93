"""The metrics and health HTTP endpoint of a live dralloc process (spec/cluster-mode.md 2.4).

Owns one small HTTP/1.1 server on asyncio streams (no framework, one request per connection):

* `GET /metrics`: the Prometheus registry, in the text format the scraper's Accept header asks
  for (prometheus_client chooses: the classic text format or OpenMetrics);
* `GET /healthz`: 200 `ok` while `healthy()` says so, else 500 (the informers run);
* `GET /readyz`: 200 `ok` when `ready()` says so, else 500 (caches synced, leader or standby);
* anything else: 404; a method other than GET or HEAD on a known path: 405.

It binds 127.0.0.1 by default, as spec section 2 asks; a Deployment passes `0.0.0.0:<port>`
so that the kubelet's probes and Prometheus reach it. Port 0 picks a free port (`port` tells
which). It never reads the scheduler's state itself: the callables and the registry do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from dralloc.errors import InputError, Problem

log = logging.getLogger(__name__)

# The plain-HTTP port kube-scheduler served healthz and metrics on before it went HTTPS-only:
# dralloc serves the same endpoints in plain HTTP.
DEFAULT_ADDRESS = "127.0.0.1:10251"

# A scraper or a probe sends a few hundred bytes; anything slower or bigger is dropped.
READ_TIMEOUT = 10.0
MAX_HEADER_BYTES = 16 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


@dataclass(frozen=True)
class BindAddress:
    """`host:port` (IPv6 as `[::1]:port`); port 0 means any free port."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, flag: str = "--metrics-bind-address") -> BindAddress:
        host, sep, port = text.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise InputError(
                [Problem(flag, "", "", f"want host:port (port 0-65535), got {text!r}")]
            )
        return cls(host, int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _always() -> bool:
    return True


class HealthServer:
    """Serves /metrics, /healthz and /readyz.

    >>> server = HealthServer(metrics.registry, healthy=informers.running, ready=is_ready)
    >>> await server.start()
    >>> server.port                   # the bound port (useful with address "127.0.0.1:0")
    >>> await server.stop()
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        address: str = DEFAULT_ADDRESS,
        healthy: Callable[[], bool] = _always,
        ready: Callable[[], bool] = _always,
    ) -> None:
        self.registry = registry
        self.address = BindAddress.parse(address)
        self.healthy = healthy
        self.ready = ready
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port bound (the configured one until started)."""
        if self._server is None or not self._server.sockets:
            return self.address.port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{BindAddress(self.address.host, self.port)}"

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, self.address.host, self.address.port, limit=MAX_HEADER_BYTES
        )
        log.info("serving /metrics, /healthz and /readyz on %s", self.url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            if request is None:
                await _respond(writer, 400, b"bad request\n", head=False)
                return
            method, target, headers = request
            status, body, content_type = self._answer(method, target, headers)
            await _respond(writer, status, body, content_type, head=method == "HEAD")
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent garbage: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        path = target.split("?", 1)[0]
        text = "text/plain; charset=utf-8"
        if path not in ("/metrics", "/healthz", "/readyz"):
            return 404, b"404 page not found\n", text
        if method not in ("GET", "HEAD"):
            return 405, b"method not allowed\n", text
        if path == "/metrics":
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            return 200, encoder(self.registry), content_type
        check = self.healthy if path == "/healthz" else self.ready
        try:
            passed = check()
        except Exception:
            log.exception("the %s check failed", path)
            passed = False
        if passed:
            return 200, b"ok\n", text
        return 500, f"{path.removeprefix('/')} check failed\n".encode(), text


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str]] | None:
    """(method, target, lower-cased headers) of one request, None when malformed. A body,
    if any, is ignored: the connection closes after the answer."""
    line = (await reader.readline()).decode("latin-1").strip()
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    head: bool,
) -> None:
    head_lines = (
        f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head_lines.encode("latin-1"))
    if not head:
        writer.write(body)
    await writer.drain()
