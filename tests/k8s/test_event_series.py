"""Event series on a real kube-apiserver: the series patch and the create of a series whose
first event is gone pass the server's validation, and `kubectl`'s readers see the count."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane import ApiServer

from dralloc.kube import KubeClient
from dralloc.kube.client import EVENTS
from dralloc.kube.events import FINISH_AFTER, EventRecorder

pytestmark = pytest.mark.k8s


def test_a_repeated_failed_scheduling_is_one_event_with_its_series_count(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            pod: dict[str, Any] = await client.create(
                f"/api/v1/namespaces/{namespace}/pods",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "waits"},
                    "spec": {
                        "schedulerName": "dralloc",
                        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                    },
                },
            )
            now = [datetime.now(UTC)]
            recorder = EventRecorder(client, "dralloc", clock=lambda: now[0])
            for attempt in range(4):
                now[0] += timedelta(seconds=1)
                recorder.failed_scheduling(pod, f"0/0 nodes are available (attempt {attempt})")
                await recorder.drain(10.0)
            listed = await client.list(EVENTS.collection(namespace))
            (event,) = listed["items"]
            assert event["note"] == "0/0 nodes are available (attempt 0)"
            assert event["series"]["count"] == 2
            now[0] += FINISH_AFTER + timedelta(seconds=1)
            recorder.finish_series()
            await recorder.drain(10.0)
            (event,) = (await client.list(EVENTS.collection(namespace)))["items"]
            assert event["series"]["count"] == 4
            assert event["regarding"]["uid"] == pod["metadata"]["uid"]

            # Forgotten after the last write: the next occurrence is a new event. Deleted
            # before its repeat, it comes back through the series write, series and all.
            recorder.failed_scheduling(pod, "again")
            await recorder.drain(10.0)
            (fresh,) = [
                e
                for e in (await client.list(EVENTS.collection(namespace)))["items"]
                if e["metadata"]["name"] != event["metadata"]["name"]
            ]
            assert "series" not in fresh
            await client.delete(EVENTS.item(namespace, fresh["metadata"]["name"]))
            now[0] += timedelta(seconds=1)
            recorder.failed_scheduling(pod, "again")
            await recorder.drain(10.0)
            back = await client.get(EVENTS.item(namespace, fresh["metadata"]["name"]))
            assert back["note"] == "again"
            assert back["series"]["count"] == 2
        finally:
            await client.aclose()

    asyncio.run(scenario())
