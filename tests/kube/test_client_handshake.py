"""A request cancelled during its TLS handshake (a controller or informer stopped while
opening a connection) leaves no socket open: `KubeClient`'s transport closes the TCP
connection itself, where httpcore2 alone left it to the garbage collector ("unclosed
transport", which failed live tests at random under load)."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import warnings

import httpx2

from dralloc.kube.client import HandshakeClosingBackend, _transport


def test_a_request_cancelled_mid_handshake_closes_its_connection() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        hello = asyncio.Event()

        def silent_server() -> None:
            # Takes the connection and the ClientHello, and never answers it.
            connection, _ = listener.accept()
            accepted.append(connection)
            connection.recv(1)
            loop.call_soon_threadsafe(hello.set)

        threading.Thread(target=silent_server, daemon=True).start()
        client = httpx2.AsyncClient(transport=_transport(False))
        request = asyncio.create_task(client.get(f"https://127.0.0.1:{port}/"))
        await asyncio.wait_for(hello.wait(), 30)
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        await client.aclose()

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(scenario())
            gc.collect()
    finally:
        for connection in accepted:
            connection.close()
        listener.close()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_the_client_transport_opens_connections_through_that_backend() -> None:
    pool = _transport(False)._pool
    assert isinstance(pool._network_backend, HandshakeClosingBackend)  # type: ignore[attr-defined]
