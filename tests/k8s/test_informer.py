"""The informer against a real kube-apiserver: the first list, the watch after it, bookmarks,
re-watches at the end of each watch, and a relist after the server expired the informer's
resourceVersion (spec/cluster-mode.md 3 and 8.7 test 9).

How the test gets a real 410. kube-apiserver serves every watch that names a resourceVersion
from its watch cache, in memory: compacting etcd does not touch a running cache, so a watch
from a compacted revision is still answered from memory as long as the cache's window holds
it. What answers 410 is a resourceVersion older than the start of that window, and a restarted
apiserver starts its window at etcd's current revision. So the test runs a second
kube-apiserver on the same etcd prefix (the fixture's command line on another port, as in an
HA control plane), points the informer at it, stops it, changes objects through the fixture's
apiserver meanwhile, compacts etcd past all of it, and starts the second apiserver again. The
informer's re-watch from its old resourceVersion then gets "too old resource version", it
lists again with no resourceVersion, and its handlers must hear exactly what changed while it
was away, once. A list at the old revision gets 410 too, from etcd itself, which the test
checks to show the compaction happened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from apiclient import ApiClient
from certificates import write_kubeconfig
from controlplane import ApiServer, Etcd, ManagedProcess, free_port

from dralloc.kube import ApiStatusError, KubeClient
from dralloc.kube.client import KubeDict, Resource
from dralloc.kube.informer import Informer, object_key

pytestmark = pytest.mark.k8s

CONFIG_MAPS = Resource("v1", "configmaps", "ConfigMap")
DEADLINE_SECONDS = 120.0


@dataclass
class Recorder:
    """What the handlers heard, as (what, key, resourceVersion, data)."""

    seen: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def _note(self, what: str, obj: KubeDict) -> None:
        metadata = obj["metadata"]
        self.seen.append((what, object_key(obj), metadata["resourceVersion"], obj.get("data", {})))

    def on_add(self, obj: KubeDict) -> None:
        self._note("add", obj)

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        assert old["metadata"]["resourceVersion"] != new["metadata"]["resourceVersion"]
        self._note("update", new)

    def on_delete(self, obj: KubeDict) -> None:
        self._note("delete", obj)

    def summary(self, start: int = 0) -> list[tuple[str, str, dict[str, str]]]:
        return [(what, key, data) for what, key, _, data in self.seen[start:]]


class CountingClient(KubeClient):
    """A KubeClient that counts the watches it opened."""

    watches = 0

    async def stream(
        self, path: str, params: Mapping[str, str | int | bool], *, read_timeout: float | None
    ) -> AsyncIterator[KubeDict]:
        self.watches += 1
        async for event in super().stream(path, params, read_timeout=read_timeout):
            yield event


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {DEADLINE_SECONDS:g} s: {what}")
        await asyncio.sleep(0.05)


def _config_map(namespace: str, name: str, value: str) -> KubeDict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"v": value},
    }


async def _put(client: KubeClient, namespace: str, name: str, value: str) -> KubeDict:
    """Creates the ConfigMap, or updates its data when it exists."""
    path = CONFIG_MAPS.item(namespace, name)
    try:
        current = await client.get(path)
    except ApiStatusError as err:
        if not err.is_not_found:
            raise
        return await client.create(
            CONFIG_MAPS.collection(namespace), _config_map(namespace, name, value)
        )
    current["data"] = {"v": value}
    return await client.update(path, current)


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[Informer]:
    task = asyncio.create_task(informer.run())
    try:
        yield informer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_the_informer_lists_what_exists_then_hears_creates_updates_and_deletes_in_order(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            for name in ("a", "b"):
                await _put(client, namespace, name, "0")
            recorder = Recorder()
            informer = Informer(client, CONFIG_MAPS, namespace=namespace, handlers=[recorder])
            async with running(informer):
                await informer.wait_synced(DEADLINE_SECONDS)
                assert informer.relists == 1
                assert sorted(informer.store) == [f"{namespace}/a", f"{namespace}/b"]
                assert sorted(recorder.summary()) == [
                    ("add", f"{namespace}/a", {"v": "0"}),
                    ("add", f"{namespace}/b", {"v": "0"}),
                ]
                assert informer.store[f"{namespace}/a"]["kind"] == "ConfigMap"

                await _put(client, namespace, "c", "0")
                await _put(client, namespace, "a", "1")
                await client.delete(CONFIG_MAPS.item(namespace, "b"))
                updated = await _put(client, namespace, "c", "2")
                await eventually(
                    lambda: informer.resource_version == updated["metadata"]["resourceVersion"],
                    "the informer saw the last update",
                )
                assert recorder.summary(2) == [
                    ("add", f"{namespace}/c", {"v": "0"}),
                    ("update", f"{namespace}/a", {"v": "1"}),
                    ("delete", f"{namespace}/b", {"v": "0"}),
                    ("update", f"{namespace}/c", {"v": "2"}),
                ]
                assert sorted(informer.store) == [f"{namespace}/a", f"{namespace}/c"]
                assert informer.get(f"{namespace}/c") is not None
                assert informer.get(f"{namespace}/b") is None
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_bookmarks_move_the_resource_version_without_telling_the_handlers(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            await _put(client, namespace, "a", "0")
            recorder = Recorder()
            # The server sends a bookmark 2 s before a watch's timeout (and about once a minute).
            informer = Informer(
                client,
                CONFIG_MAPS,
                namespace=namespace,
                handlers=[recorder],
                watch_timeout=(3, 4),
            )
            async with running(informer):
                await informer.wait_synced(DEADLINE_SECONDS)
                heard = len(recorder.seen)
                # A change the informer's namespace never sees: only a bookmark can bring
                # its resourceVersion here.
                other = f"t-{uuid.uuid4().hex[:10]}"
                await client.create(
                    "/api/v1/namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}},
                )
                elsewhere = await _put(client, other, "x", "0")
                target = int(elsewhere["metadata"]["resourceVersion"])
                await eventually(
                    lambda: int(informer.resource_version) >= target,
                    f"a bookmark at or after resourceVersion {target}",
                )
                assert len(recorder.seen) == heard
                assert sorted(informer.store) == [f"{namespace}/a"]
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_short_watches_are_renewed_from_the_last_resource_version_and_lose_nothing(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        client = CountingClient.connect(apiserver.admin_kubeconfig)
        assert isinstance(client, CountingClient)
        writer = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            recorder = Recorder()
            informer = Informer(
                client,
                CONFIG_MAPS,
                namespace=namespace,
                handlers=[recorder],
                watch_timeout=(3, 4),
            )
            async with running(informer):
                await informer.wait_synced(DEADLINE_SECONDS)
                expected: list[tuple[str, str, dict[str, str]]] = []
                present: dict[str, dict[str, str]] = {}
                step = 0
                # Write steadily across at least three watch renewals.
                while client.watches < 4:
                    name = f"m{step % 3}"
                    key = f"{namespace}/{name}"
                    if step % 4 == 3 and key in present:
                        await writer.delete(CONFIG_MAPS.item(namespace, name))
                        expected.append(("delete", key, present.pop(key)))
                    else:
                        await _put(writer, namespace, name, str(step))
                        expected.append(
                            ("update" if key in present else "add", key, {"v": str(step)})
                        )
                        present[key] = {"v": str(step)}
                    step += 1
                    await asyncio.sleep(0.2)  # pacing the writes, not a wait for an outcome
                last = await _put(writer, namespace, "final", "x")
                expected.append(("add", f"{namespace}/final", {"v": "x"}))
                await eventually(
                    lambda: informer.get(f"{namespace}/final") is not None,
                    "the informer saw the last write",
                )
                assert recorder.summary() == expected
                assert informer.relists == 1
                assert informer.get(f"{namespace}/final") is not None
                assert int(informer.resource_version) >= int(last["metadata"]["resourceVersion"])
        finally:
            await client.aclose()
            await writer.aclose()

    asyncio.run(scenario())


def test_after_compaction_a_reconnect_with_an_old_resource_version_relists_and_emits_each_change_once(  # noqa: E501
    apiserver: ApiServer, etcd: Etcd, namespace: str, tmp_path: Path
) -> None:
    async def scenario(peer: PeerApiServer) -> None:
        writer = KubeClient.connect(apiserver.admin_kubeconfig)
        client = KubeClient.connect(peer.kubeconfig)
        try:
            for name in ("a", "b", "c"):
                await _put(writer, namespace, name, "0")
            recorder = Recorder()
            informer = Informer(client, CONFIG_MAPS, namespace=namespace, handlers=[recorder])
            async with running(informer):
                await informer.wait_synced(DEADLINE_SECONDS)
                assert len(recorder.seen) == 3
                away_from = informer.resource_version

                # The informer's apiserver goes away; the cluster changes meanwhile.
                await asyncio.to_thread(peer.stop)
                await writer.delete(CONFIG_MAPS.item(namespace, "a"))
                await _put(writer, namespace, "b", "1")
                await _put(writer, namespace, "d", "0")
                revision = _compact(etcd)
                assert revision > int(away_from)
                await asyncio.to_thread(peer.start)

                await eventually(lambda: informer.relists == 2, "a relist after the 410")
                await eventually(
                    lambda: len(recorder.seen) == 6, "the changes made while it was away"
                )
                assert recorder.summary(3) == [
                    ("update", f"{namespace}/b", {"v": "1"}),
                    ("add", f"{namespace}/d", {"v": "0"}),
                    ("delete", f"{namespace}/a", {"v": "0"}),
                ]
                assert sorted(informer.store) == [f"{namespace}/{n}" for n in "bcd"]
                # etcd itself no longer has the old revision.
                with pytest.raises(ApiStatusError) as gone:
                    await client.list(
                        CONFIG_MAPS.collection(namespace),
                        resourceVersion=away_from,
                        resourceVersionMatch="Exact",
                    )
                assert gone.value.is_gone

                # Watching goes on from the relist, and nothing is heard twice.
                await _put(writer, namespace, "e", "0")
                await eventually(lambda: len(recorder.seen) >= 7, "a change after the relist")
                assert recorder.summary(6) == [("add", f"{namespace}/e", {"v": "0"})]
                assert informer.relists == 2
        finally:
            await client.aclose()
            await writer.aclose()

    with PeerApiServer.running(apiserver, tmp_path) as peer:
        asyncio.run(scenario(peer))


@dataclass
class PeerApiServer:
    """A second kube-apiserver with the fixture's command line (same etcd prefix, certificates
    and service-account keys) on another port, as in an HA control plane; the test stops it
    and starts it again."""

    argv: list[str]
    port: int
    admin: ApiClient
    log_path: Path
    kubeconfig: Path
    process: ManagedProcess | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, apiserver: ApiServer, directory: Path) -> Iterator[PeerApiServer]:
        port = free_port()
        argv = [
            f"--secure-port={port}" if arg.startswith("--secure-port=") else arg
            for arg in apiserver.process.argv
        ]
        kubeconfig = write_kubeconfig(
            directory / "peer.kubeconfig", f"https://127.0.0.1:{port}", apiserver.pki, "admin"
        )
        admin = ApiClient(port, apiserver.pki.ca, *apiserver.pki.user_cert("admin"), timeout=5)
        peer = cls(argv, port, admin, directory / "peer-apiserver.log", kubeconfig)
        peer.start()
        try:
            yield peer
        finally:
            peer.stop()

    def start(self) -> None:
        process = ManagedProcess.spawn("peer-kube-apiserver", self.argv, self.log_path)
        self.process = process
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not self._is_ready():
            if process.has_exited() or time.monotonic() > deadline:
                raise AssertionError(f"the peer apiserver is not ready:\n{process.log_tail()}")
            time.sleep(0.1)

    def _is_ready(self) -> bool:
        try:
            return self.admin.get("/readyz").status == 200
        except (OSError, http.client.HTTPException):
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def _compact(etcd: Etcd) -> int:
    """Compacts etcd's whole history up to its current revision (the gRPC gateway's JSON);
    returns that revision."""

    def call(method: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{etcd.client_url}/v3/kv/{method}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    key = base64.b64encode(b"/dralloc-test-probe").decode()
    revision = int(call("range", {"key": key})["header"]["revision"])
    call("compaction", {"revision": str(revision), "physical": True})
    return revision
