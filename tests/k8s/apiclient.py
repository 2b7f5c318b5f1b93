"""Plain HTTPS to a test API server as one user, the CA pinned: what the harness and its
tests need (requests, status patches, watches). dralloc's live client layer is not this.

    client = ApiClient(port, pki.ca, *pki.user_cert("admin"))
    client.get("/apis/resource.k8s.io/v1").raise_for_status().body
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode


class ApiError(RuntimeError):
    def __init__(self, response: ApiResponse) -> None:
        self.response = response
        super().__init__(f"{response.method} {response.path}: {response.status} {response.text}")


@dataclass(frozen=True)
class ApiResponse:
    method: str
    path: str
    status: int
    text: str

    @property
    def body(self) -> Any:
        return json.loads(self.text)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def raise_for_status(self) -> ApiResponse:
        if not self.is_success:
            raise ApiError(self)
        return self


class ApiClient:
    """Plain HTTPS to one API server as one user, the CA pinned: enough for the harness.

    A connection per request keeps it simple and safe to share between threads; on loopback the
    handshake costs a few milliseconds.
    """

    def __init__(
        self,
        port: int,
        ca_file: Path,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.port = port
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=str(ca_file))
        if cert_file is not None:
            self._context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> ApiResponse:
        target = f"{path}?{urlencode(query)}" if query else path
        headers = {"Accept": "application/json"}
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.port,
            context=self._context,
            timeout=self.timeout if timeout is None else timeout,
        )
        try:
            connection.request(method, target, body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        return ApiResponse(method, target, response.status, text)

    def get(self, path: str, **query: str) -> ApiResponse:
        return self.request("GET", path, query=query or None)

    def create(self, path: str, obj: Any, **query: str) -> ApiResponse:
        return self.request("POST", path, obj, query=query or None)

    def delete(self, path: str) -> ApiResponse:
        return self.request("DELETE", path)

    def patch_status(self, path: str, patch: Any) -> ApiResponse:
        """A merge patch of the `status` subresource (what a kubelet would write)."""
        return self.request(
            "PATCH", f"{path}/status", patch, content_type="application/merge-patch+json"
        )

    def watch(self, path: str, timeout_seconds: int = 30, **query: str) -> Iterator[Any]:
        """The events of a watch on a collection, each `{"type": ..., "object": ...}`, until
        the server ends it after `timeout_seconds` (or the caller stops iterating)."""
        params = {**query, "watch": "1", "timeoutSeconds": str(timeout_seconds)}
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self._context, timeout=timeout_seconds + 10
        )
        try:
            connection.request(
                "GET", f"{path}?{urlencode(params)}", headers={"Accept": "application/json"}
            )
            response = connection.getresponse()
            if response.status != 200:
                raise ApiError(ApiResponse("GET", path, response.status, response.read().decode()))
            for line in response:
                if line.strip():
                    yield json.loads(line)
        finally:
            connection.close()
