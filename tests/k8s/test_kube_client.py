"""dralloc's API client against a real kube-apiserver: credentials from a kubeconfig, error
statuses as typed errors, watches as decoded lines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from controlplane import ApiServer

from dralloc.errors import InputError
from dralloc.kube import ApiStatusError, KubeClient
from dralloc.kube.client import NAMESPACES, RESOURCE_CLAIMS

pytestmark = pytest.mark.k8s


def _claim(namespace: str, name: str) -> dict[str, object]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "x"}}]}},
    }


def test_a_client_from_a_kubeconfig_reads_writes_and_gets_typed_errors(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            found = await client.get(NAMESPACES.item(None, namespace))
            assert found["metadata"]["name"] == namespace
            created = await client.create(
                RESOURCE_CLAIMS.collection(namespace), _claim(namespace, "c")
            )
            assert created["spec"]["devices"]["requests"][0]["exactly"]["count"] == 1
            stale = dict(created)
            created["metadata"]["labels"] = {"a": "b"}
            await client.update(RESOURCE_CLAIMS.item(namespace, "c"), created)
            with pytest.raises(ApiStatusError) as conflict:
                await client.update(RESOURCE_CLAIMS.item(namespace, "c"), stale)
            assert conflict.value.is_conflict and conflict.value.reason == "Conflict"
            with pytest.raises(ApiStatusError) as missing:
                await client.get(RESOURCE_CLAIMS.item(namespace, "nope"))
            assert missing.value.is_not_found
            assert "resourceclaims" in await client.served("resource.k8s.io/v1")
            assert await client.served("example.com/v9") == set()
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_user_without_rights_gets_forbidden(apiserver: ApiServer, namespace: str) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(apiserver.dralloc_kubeconfig)
        try:
            with pytest.raises(ApiStatusError) as denied:
                await client.list(RESOURCE_CLAIMS.collection(namespace))
            assert denied.value.is_forbidden
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_missing_kubeconfig_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        KubeClient.connect(tmp_path / "absent.kubeconfig")
    assert "absent.kubeconfig" in str(err.value)
