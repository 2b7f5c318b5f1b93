"""The harness itself: a real kube-apiserver answers, serves resource.k8s.io/v1, stores DRA
objects and pods for admin, works with the built kubectl, and enforces RBAC on `dralloc`."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from certificates import write_kubeconfig, write_pki
from controlplane import K8S_VERSION, ApiServer, Kubectl
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
RESOURCE_V1 = "/apis/resource.k8s.io/v1"
DRIVER = "gpu.example.com"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_harness_expects_the_kubernetes_version_tools_k8s_pins() -> None:
    go_mod = (ROOT / "tools" / "k8s" / "go.mod").read_text()
    match = re.search(r"^require k8s\.io/kubernetes (v\S+)$", go_mod, re.MULTILINE)
    assert match is not None, "tools/k8s/go.mod no longer requires k8s.io/kubernetes on one line"
    assert match.group(1) == K8S_VERSION
    assert len(re.findall(r"^\tk8s\.io/\S+ => k8s\.io/\S+ v0\.36\.3$", go_mod, re.MULTILINE)) == 33


def test_generated_certificates_name_the_users_and_the_loopback_server(tmp_path: Path) -> None:
    pki = write_pki(tmp_path)
    serving = x509.load_pem_x509_certificate(pki.path("apiserver.crt").read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    admin = x509.load_pem_x509_certificate(pki.path("admin.crt").read_bytes())
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:masters"
    )
    dralloc = x509.load_pem_x509_certificate(pki.path("dralloc.crt").read_bytes())
    assert dralloc.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []
    assert dralloc.issuer == admin.issuer != serving.issuer

    config = yaml.safe_load(
        write_kubeconfig(tmp_path / "k", "https://127.0.0.1:1", pki, "dralloc").read_text()
    )
    assert config["current-context"] == "dralloc-test"
    assert [c["name"] for c in config["clusters"]] == ["dralloc-test"]
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}


@pytest.mark.k8s
def test_the_apiserver_is_ready_at_the_pinned_version_and_serves_resource_v1(
    apiserver: ApiServer,
) -> None:
    assert apiserver.admin.get("/readyz").status == 200
    assert apiserver.admin.get("/version").raise_for_status().body["gitVersion"] == K8S_VERSION
    resources = apiserver.admin.get(RESOURCE_V1).raise_for_status().body["resources"]
    names = {resource["name"] for resource in resources}
    assert {
        "deviceclasses",
        "resourceclaims",
        "resourceclaims/status",
        "resourceclaimtemplates",
        "resourceslices",
    } <= names


@pytest.mark.k8s
def test_admin_creates_dra_objects_and_a_pod_and_reads_them_back(
    apiserver: ApiServer, namespace: str
) -> None:
    admin = apiserver.admin
    device_class = unique("gpu")
    node = unique("node")
    slice_name = unique("slice")
    claim_name = unique("claim")
    admin.create(
        "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
    ).raise_for_status()
    admin.create(
        f"{RESOURCE_V1}/deviceclasses",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": device_class},
            "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]},
        },
    ).raise_for_status()
    admin.create(
        f"{RESOURCE_V1}/resourceslices",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": slice_name},
            "spec": {
                "driver": DRIVER,
                "nodeName": node,
                "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                "devices": [
                    {
                        "name": "gpu-0",
                        "attributes": {"model": {"string": "H100"}},
                        "capacity": {"memory": {"value": "80Gi"}},
                    }
                ],
            },
        },
    ).raise_for_status()
    admin.create(
        f"{RESOURCE_V1}/namespaces/{namespace}/resourceclaims",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": claim_name},
            "spec": {
                "devices": {
                    "requests": [{"name": "gpu", "exactly": {"deviceClassName": device_class}}]
                }
            },
        },
    ).raise_for_status()
    admin.create(
        f"/api/v1/namespaces/{namespace}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "trainer"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"claims": [{"name": "gpu"}]},
                    }
                ],
                "resourceClaims": [{"name": "gpu", "resourceClaimName": claim_name}],
            },
        },
    ).raise_for_status()
    try:
        got_class = admin.get(f"{RESOURCE_V1}/deviceclasses/{device_class}").raise_for_status()
        assert got_class.body["spec"]["selectors"][0]["cel"]["expression"] == (
            f'device.driver == "{DRIVER}"'
        )
        got_slice = admin.get(f"{RESOURCE_V1}/resourceslices/{slice_name}").raise_for_status()
        assert got_slice.body["spec"]["devices"][0]["capacity"]["memory"]["value"] == "80Gi"
        got_claim = admin.get(
            f"{RESOURCE_V1}/namespaces/{namespace}/resourceclaims/{claim_name}"
        ).raise_for_status()
        # The server's defaulting: one device unless said otherwise.
        assert got_claim.body["spec"]["devices"]["requests"][0]["exactly"] == {
            "deviceClassName": device_class,
            "allocationMode": "ExactCount",
            "count": 1,
        }
        pod = admin.get(f"/api/v1/namespaces/{namespace}/pods/trainer").raise_for_status().body
        assert pod["spec"]["resourceClaims"] == [{"name": "gpu", "resourceClaimName": claim_name}]
        assert pod["status"]["phase"] == "Pending"
    finally:
        for path in (
            f"{RESOURCE_V1}/resourceslices/{slice_name}",
            f"{RESOURCE_V1}/deviceclasses/{device_class}",
            f"/api/v1/nodes/{node}",
        ):
            admin.delete(path).raise_for_status()


@pytest.mark.k8s
def test_the_built_kubectl_lists_nodes_with_the_admin_kubeconfig(
    apiserver: ApiServer, kubectl: Kubectl
) -> None:
    node = unique("node")
    apiserver.admin.create(
        "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
    ).raise_for_status()
    try:
        assert f"node/{node}" in kubectl("get", "nodes", "-o", "name").stdout.split()
        version = kubectl("version", "-o", "json").stdout
        assert f'"gitVersion": "{K8S_VERSION}"' in version
    finally:
        apiserver.admin.delete(f"/api/v1/nodes/{node}").raise_for_status()


@pytest.mark.k8s
def test_the_dralloc_identity_is_forbidden_without_rbac(
    apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    response = apiserver.dralloc.get(f"{RESOURCE_V1}/resourceclaims")
    assert response.status == 403
    assert response.body["message"] == (
        'resourceclaims.resource.k8s.io is forbidden: User "dralloc" cannot list resource '
        '"resourceclaims" in API group "resource.k8s.io" at the cluster scope'
    )
    kubectl = Kubectl(apiserver.dralloc_kubeconfig, tmp_path / "kubectl-cache")
    denied = kubectl("get", "pods", "-n", namespace, check=False)
    assert denied.returncode == 1
    assert 'User "dralloc" cannot list resource "pods"' in denied.stderr
