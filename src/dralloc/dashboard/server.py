"""The dashboard's HTTP server: a small, read-only web app over a `Published` document.

Owns one `ThreadingHTTPServer` (stdlib; one thread per connection, so a slow browser or a
long event stream never blocks another) run in a daemon thread of its own. It reads only
what `Published` holds and what the `Explainer` answers, never the scheduler's state, so
nothing it does can change or stop a scheduler running beside it; a failing request is
logged and answered 500.

Endpoints (GET or HEAD; any other method is refused with 405, since nothing here changes
anything):

* `/`, `/static/app.js`, `/static/app.css`: the app (packaged files, no build step, no CDN);
* `/api/fleet`: the newest fleet document (`fleet.SCHEMA`; 503 before the first one);
* `/api/history`: `{"schema", "samples": [Sample...]}`, oldest first;
* `/api/explain?pod=NAMESPACE/NAME`: why that pending pod waits (`dralloc explain --pod -o
  json`'s document; a NAME without a namespace is in `default`, as kubectl takes it; 404
  for a pod that is not pending);
* `/api/events`: server-sent events, one `fleet` event with the whole document on connect
  and on every publish, a comment line every `KEEPALIVE_SECONDS` otherwise.

Bound to a loopback address nothing is asked. Bound elsewhere a bearer token is required
(`DashboardServer.bind` refuses to start without one): the `/api/` endpoints then want
`Authorization: Bearer TOKEN`, or `?access_token=TOKEN` (RFC 6750 section 2.3; an
EventSource cannot set headers), and answer 401 otherwise. The app's own files carry no data
and are served to anyone; the app reads the token from its URL's `access_token` and sends it.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dralloc.dashboard.fleet import SCHEMA
from dralloc.dashboard.state import Published
from dralloc.errors import InputError, Problem
from dralloc.kube.health import BindAddress

log = logging.getLogger(__name__)

DEFAULT_DASHBOARD_ADDRESS = "127.0.0.1:8080"
KEEPALIVE_SECONDS = 15.0

# `namespace/name` -> the explanation, or None when the pod is not pending. May block (a live
# scheduler answers from its event loop); may raise (answered 500, logged).
Explainer = Callable[[str], "dict[str, Any] | None"]

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}


def _nobody(pod: str) -> dict[str, Any] | None:
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def static_file(name: str) -> bytes:
    return files("dralloc.dashboard").joinpath("static", name).read_bytes()


@dataclass(frozen=True)
class DashboardSettings:
    """Where and how the dashboard listens. `flag` names the option the address came from,
    for error messages; `token_flag` the one a token comes from."""

    address: str = DEFAULT_DASHBOARD_ADDRESS
    token: str | None = None
    flag: str = "--dashboard"
    token_flag: str = "--dashboard-token-file"


class DashboardServer:
    """The dashboard's web server.

    >>> server = DashboardServer.bind(DashboardSettings("127.0.0.1:0"), published, explain)
    >>> server.start()                     # serves from a daemon thread
    >>> server.url                         # http://127.0.0.1:PORT
    >>> server.stop()
    """

    def __init__(
        self, httpd: _Httpd, published: Published, address: BindAddress, token: str | None
    ) -> None:
        self._httpd = httpd
        self.published = published
        self.address = address
        self.token = token
        self._thread: threading.Thread | None = None

    @classmethod
    def bind(
        cls,
        settings: DashboardSettings,
        published: Published | None = None,
        explainer: Explainer | None = None,
    ) -> DashboardServer:
        """Listen now (so a bad address or a port in use is an InputError naming the flag
        before anything else starts); serve once `start()` is called."""
        address = BindAddress.parse(settings.address, settings.flag)
        token = settings.token.strip() if settings.token else None
        if not is_loopback(address.host) and not token:
            raise InputError(
                [
                    Problem(
                        settings.token_flag,
                        "",
                        "",
                        f"{settings.flag} {address} is not a loopback address: a bearer token "
                        "is required (a file holding it, or DRALLOC_DASHBOARD_TOKEN)",
                    )
                ]
            )
        published = published if published is not None else Published()
        try:
            httpd = _Httpd((address.host, address.port), published, explainer or _nobody, token)
        except OSError as err:
            reason = err.strerror or str(err)
            raise InputError(
                [Problem(settings.flag, "", "", f"cannot listen on {address}: {reason}")]
            ) from None
        return cls(httpd, published, address, token)

    def set_explainer(self, explainer: Explainer) -> None:
        """Who answers /api/explain (a live scheduler's, once it runs)."""
        self._httpd.explainer = explainer

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{BindAddress(self.address.host, self.port)}"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="dashboard http", daemon=True
        )
        self._thread.start()
        log.info("dashboard on %s", self.url)

    def stop(self) -> None:
        self.published.close()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    # Several dashboards (tests) may start and stop in one process: never linger on a port.
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        published: Published,
        explainer: Explainer,
        token: str | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.published = published
        self.explainer = explainer
        self.token = token


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd
    protocol_version = "HTTP/1.1"
    server_version = "dralloc-dashboard"
    # A connection idle this long is dropped (an event stream writes every KEEPALIVE_SECONDS).
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- methods: read-only -------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _refuse(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            b"the dashboard is read-only\n",
            "text/plain; charset=utf-8",
            head=False,
            extra={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

    # -- routing ------------------------------------------------------------------------

    def _dispatch(self, *, head: bool) -> None:
        try:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path in _STATIC:
                name, content_type = _STATIC[url.path]
                self._send(HTTPStatus.OK, static_file(name), content_type, head=head)
                return
            if not url.path.startswith("/api/"):
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head=head)
                return
            if not self._authorized(query):
                self._send(
                    HTTPStatus.UNAUTHORIZED,
                    b"a bearer token is required\n",
                    "text/plain; charset=utf-8",
                    head=head,
                    extra={"WWW-Authenticate": 'Bearer realm="dralloc dashboard"'},
                )
                return
            if url.path == "/api/fleet":
                _, document = self.server.published.latest()
                if document is None:
                    self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "no data yet"}, head)
                else:
                    self._json(HTTPStatus.OK, document, head)
            elif url.path == "/api/history":
                samples = [s.to_json() for s in self.server.published.history()]
                self._json(HTTPStatus.OK, {"schema": SCHEMA, "samples": samples}, head)
            elif url.path == "/api/explain":
                pod = (query.get("pod") or [""])[0]
                if not pod:
                    self._json(HTTPStatus.BAD_REQUEST, {"error": "want ?pod=NAMESPACE/NAME"}, head)
                    return
                if "/" not in pod:
                    pod = f"default/{pod}"  # kubectl's default namespace
                answer = self.server.explainer(pod)
                if answer is None:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"pod {pod} is not pending"}, head)
                else:
                    self._json(HTTPStatus.OK, answer, head)
            elif url.path == "/api/events" and not head:
                self._events()
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head=head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception:
            log.exception("dashboard request %s failed", self.path)
            with contextlib.suppress(OSError):
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}, head)

    def _authorized(self, query: dict[str, list[str]]) -> bool:
        token = self.server.token
        if token is None:
            return True
        header = self.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not given:
            given = (query.get("access_token") or [""])[0]
        return hmac.compare_digest(given.encode(), token.encode())

    def _events(self) -> None:
        published = self.server.published
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        version, document = published.latest()
        if document is not None:
            self._event(document)
        while not published.closed:
            if published.wait_newer(version, KEEPALIVE_SECONDS):
                version, document = published.latest()
                if document is not None:
                    self._event(document)
            else:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()

    def _event(self, document: dict[str, Any]) -> None:
        data = json.dumps(document, separators=(",", ":"))
        self.wfile.write(f"event: fleet\ndata: {data}\n\n".encode())
        self.wfile.flush()

    # -- answers ------------------------------------------------------------------------

    def _json(self, status: HTTPStatus, body: dict[str, Any], head: bool) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._send(status, data, "application/json", head=head)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)
