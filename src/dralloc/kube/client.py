"""JSON over HTTPS to one Kubernetes API server: the only module of dralloc that sends a request.

Everything live (informers, the binding cycle, leader election, the controllers, `dralloc
nodes simulate`) talks to the server through one `KubeClient`:

    client = KubeClient.connect(kubeconfig=Path("admin.kubeconfig"))
    claim = await client.get(CLAIMS.item("default", "train-0"))
    await client.update(CLAIMS.item("default", "train-0", "status"), claim)

Credentials come from lightkube's kubeconfig reader (client certificates, tokens, token
files rotated by the kubelet, exec plugins, in-cluster service accounts), and requests go
through the httpx client lightkube builds from them. Bodies are plain dicts as the server
sends them, so an object read and written back keeps every field, including the ones
dralloc does not model. A client-side token bucket keeps requests to `qps` per second with
bursts of `burst`, as client-go's default rate limiter does (kube-scheduler: 50 and 100).

An answer other than 2xx raises `ApiStatusError` carrying the HTTP code and the server's
Status reason and message; callers decide per call what a 409 or a 404 means (spec 4.7).
Connection failures and timeouts raise `ApiUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore2
import httpx2
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ConfigError

from dralloc.errors import InputError, Problem

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

KubeDict = dict[str, Any]
# Connections to the API server at most, all kept alive between requests.
MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class Resource:
    """Where a kind lives on the wire: `/api/v1/pods`, `/apis/resource.k8s.io/v1/...`."""

    group_version: str  # "v1", "resource.k8s.io/v1"
    plural: str  # "pods"
    kind: str  # "Pod"
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def prefix(self) -> str:
        if "/" in self.group_version:
            return f"/apis/{self.group_version}"
        return f"/api/{self.group_version}"

    def collection(self, namespace: str | None = None) -> str:
        """The list path: across namespaces with None, else within `namespace`."""
        if self.namespaced and namespace is not None:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def item(self, namespace: str | None, name: str, subresource: str = "") -> str:
        """The path of one object (and optionally one of its subresources)."""
        base = f"{self.collection(namespace if self.namespaced else None)}/{name}"
        return f"{base}/{subresource}" if subresource else base


PODS = Resource("v1", "pods", "Pod")
NODES = Resource("v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("v1", "namespaces", "Namespace", namespaced=False)
RESOURCE_CLAIMS = Resource("resource.k8s.io/v1", "resourceclaims", "ResourceClaim")
RESOURCE_CLAIM_TEMPLATES = Resource(
    "resource.k8s.io/v1", "resourceclaimtemplates", "ResourceClaimTemplate"
)
RESOURCE_SLICES = Resource("resource.k8s.io/v1", "resourceslices", "ResourceSlice", False)
DEVICE_CLASSES = Resource("resource.k8s.io/v1", "deviceclasses", "DeviceClass", False)
DEVICE_TAINT_RULES = Resource(
    "resource.k8s.io/v1beta2", "devicetaintrules", "DeviceTaintRule", False
)
EVENTS = Resource("events.k8s.io/v1", "events", "Event")
LEASES = Resource("coordination.k8s.io/v1", "leases", "Lease")
POD_DISRUPTION_BUDGETS = Resource("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget")
PRIORITY_CLASSES = Resource("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", False)
JOBS = Resource("batch/v1", "jobs", "Job")
# Gangs: Kubernetes' PodGroup (gate GenericWorkload, runtime-config scheduling.k8s.io/v1alpha2),
# and Volcano's and KAI's PodGroup custom resources when their CRDs are installed.
POD_GROUPS = Resource("scheduling.k8s.io/v1alpha2", "podgroups", "PodGroup")
VOLCANO_POD_GROUPS = Resource("scheduling.volcano.sh/v1beta1", "podgroups", "PodGroup")
KAI_POD_GROUPS = Resource("scheduling.run.ai/v2alpha2", "podgroups", "PodGroup")


class ApiStatusError(Exception):
    """The server answered with an error status (`code`: 404, 409, 403, 422, ...)."""

    def __init__(self, method: str, path: str, code: int, reason: str, message: str) -> None:
        self.method = method
        self.path = path
        self.code = code
        self.reason = reason
        self.message = message
        super().__init__(f"{method} {path}: {code} {reason}: {message}")

    @property
    def is_conflict(self) -> bool:
        return self.code == 409

    @property
    def is_not_found(self) -> bool:
        return self.code == 404

    @property
    def is_gone(self) -> bool:
        return self.code == 410

    @property
    def is_forbidden(self) -> bool:
        return self.code == 403


class ApiUnavailable(Exception):
    """The server could not be reached, or did not answer in time."""


class TokenBucket:
    """client-go's flowcontrol token bucket: `qps` tokens a second, at most `burst` saved.
    A non-positive qps means no limit."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self.qps <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.qps
                await asyncio.sleep(wait)
                self._last = time.monotonic()
                self._tokens = 0.0
            else:
                self._tokens -= 1


def load_kubeconfig(kubeconfig: Path | None, context: str | None = None) -> KubeConfig:
    """The kubeconfig file given, else `$KUBECONFIG`, else in-cluster, else ~/.kube/config.

    A file that cannot be used is an InputError naming it (no traceback for a user's typo)."""
    where = str(kubeconfig) if kubeconfig is not None else "kubeconfig"
    try:
        if kubeconfig is not None:
            if not kubeconfig.is_file():
                raise InputError([Problem(where, "", "", "no such file")])
            config = KubeConfig.from_file(kubeconfig)
        else:
            config = KubeConfig.from_env()
        if config.get(context) is None:
            raise InputError([Problem(where, "", "current-context", "no usable context")])
        return config
    except (ConfigError, KeyError, ValueError, TypeError) as err:
        raise InputError([Problem(where, "", "", f"cannot use this kubeconfig: {err}")]) from err


class KubeClient:
    """Async requests to one API server. Safe to share between the tasks of one event loop."""

    def __init__(self, http: httpx2.AsyncClient, *, qps: float = 50.0, burst: int = 100) -> None:
        self.http = http
        self.limiter = TokenBucket(qps, burst)
        self.user_agent = "dralloc"

    @classmethod
    def connect(
        cls,
        kubeconfig: Path | None = None,
        *,
        context: str | None = None,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
    ) -> KubeClient:
        config = load_kubeconfig(kubeconfig, context)
        single = config.get(context)
        assert single is not None  # load_kubeconfig checked it
        params = ConnectionParams(timeout=httpx2.Timeout(timeout), trust_env=False)
        settings = params.httpx_params(single)
        # Binding cycles run side by side: keep as many connections alive as may be open,
        # or every request past the 20th kept would pay a new TLS handshake.
        settings["transport"] = _transport(settings.pop("verify"))
        http = httpx2.AsyncClient(**settings)
        http.headers["User-Agent"] = "dralloc"
        return cls(http, qps=qps, burst=burst)

    @property
    def server(self) -> str:
        return str(self.http.base_url)

    async def aclose(self) -> None:
        await self.http.aclose()
        # TLS connections finish closing over a few more turns of the event loop; a loop
        # closed at once (asyncio.run returning) would leave their transports unclosed.
        for _ in range(3):
            await asyncio.sleep(0.01)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> KubeDict:
        """One request; the decoded answer (an empty dict for an empty one)."""
        await self.limiter.take()
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": content_type, "Accept": JSON} if content else {"Accept": JSON}
        try:
            response = await self.http.request(
                method, path, params=_query(params), content=content, headers=headers
            )
        except httpx2.HTTPError as err:
            raise ApiUnavailable(f"{method} {path}: {type(err).__name__}: {err}") from err
        if response.status_code >= 300:
            raise _status_error(method, path, response.status_code, response.text)
        if not response.content:
            return {}
        decoded = response.json()
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    async def get(self, path: str, **params: str | int | bool) -> KubeDict:
        return await self.request("GET", path, params=params)

    async def list(self, path: str, **params: str | int | bool) -> KubeDict:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: KubeDict, **params: str | int | bool) -> KubeDict:
        return await self.request("POST", path, params=params, body=body)

    async def update(self, path: str, body: KubeDict, **params: str | int | bool) -> KubeDict:
        return await self.request("PUT", path, params=params, body=body)

    async def patch(
        self,
        path: str,
        body: Any,
        content_type: str = STRATEGIC_MERGE_PATCH,
        **params: str | int | bool,
    ) -> KubeDict:
        return await self.request(
            "PATCH", path, params=params, body=body, content_type=content_type
        )

    async def delete(self, path: str, body: KubeDict | None = None) -> KubeDict:
        return await self.request("DELETE", path, body=body)

    async def stream(
        self, path: str, params: Mapping[str, str | int | bool], *, read_timeout: float | None
    ) -> AsyncIterator[KubeDict]:
        """A watch: the decoded lines of one long response, until the server ends it."""
        await self.limiter.take()
        timeout = httpx2.Timeout(30.0, read=read_timeout)
        try:
            async with self.http.stream(
                "GET", path, params=_query(params), headers={"Accept": JSON}, timeout=timeout
            ) as response:
                if response.status_code >= 300:
                    text = (await response.aread()).decode(errors="replace")
                    raise _status_error("GET", path, response.status_code, text)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx2.HTTPError as err:
            raise ApiUnavailable(f"watch {path}: {type(err).__name__}: {err}") from err

    async def served(self, group_version: str) -> set[str]:
        """The resources (plurals) a group/version serves; empty when it is not served."""
        prefix = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        try:
            found = await self.get(prefix)
        except ApiStatusError as err:
            if err.is_not_found:
                return set()
            raise
        return {str(r.get("name", "")) for r in found.get("resources", [])}


def _transport(verify: Any) -> httpx2.AsyncHTTPTransport:
    transport = httpx2.AsyncHTTPTransport(
        verify=verify,
        trust_env=False,
        limits=httpx2.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        ),
    )
    # httpx2 takes no network backend; its pool hands this one to every connection it opens.
    pool = transport._pool
    assert isinstance(pool, httpcore2.AsyncConnectionPool)
    pool._network_backend = HandshakeClosingBackend(pool._network_backend)
    return transport


class HandshakeClosingBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend, except that a TLS handshake which does not finish closes
    its TCP connection whatever stopped it. httpcore2 closes it on an Exception only, so a
    task cancelled mid-handshake (a controller or informer stopped while opening a
    connection) left the socket open, owned by nothing, past the event loop: "unclosed
    transport" at garbage collection, an error in the tests (filterwarnings=error)."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _HandshakeClosingStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self.inner.connect_unix_socket(path, timeout, socket_options)
        return _HandshakeClosingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _HandshakeClosingStream(httpcore2.AsyncNetworkStream):
    """A plain connection whose `start_tls` closes it when the handshake fails or is
    cancelled (the TLS stream it returns is httpcore2's own)."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self.stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            return await self.stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # Closing aborts the transport at once; the loop closes the socket next turn.
            await asyncio.shield(self.stream.aclose())
            raise

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


def _query(params: Mapping[str, str | int | bool] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {
        k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()
    }


def _status_error(method: str, path: str, code: int, text: str) -> ApiStatusError:
    reason, message = "", text.strip()
    try:
        status = json.loads(text)
    except ValueError:
        status = None
    if isinstance(status, dict):
        reason = str(status.get("reason", ""))
        message = str(status.get("message", message))
    return ApiStatusError(method, path, code, reason, message)
