"""deploy/: the manifests pass the real apiserver's server-side dry run, their RBAC is spec
section 6's table exactly, and an identity bound only to those roles may make every call
the scheduler makes (asked with access reviews, not real writes) and no other."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from apiclient import ApiClient
from controlplane import ApiServer, Kubectl

from dralloc.kube import ApiStatusError, KubeClient
from dralloc.kube.client import DEVICE_CLASSES, NODES, RESOURCE_CLAIMS, RESOURCE_SLICES
from dralloc.scheduler.config import parse_config
from dralloc.scheduler.profiles import plugin_names

pytestmark = pytest.mark.k8s

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAMESPACE = "dralloc-system"
SERVICE_ACCOUNT = f"system:serviceaccount:{NAMESPACE}:dralloc"
CLUSTER = ""  # the scope of a ClusterRole's rules

# spec/cluster-mode.md section 6, row by row: (apiGroup, resources, verbs, resourceNames).
SPEC_6 = [
    ("", ["pods"], ["get", "list", "watch", "delete"], []),
    ("", ["pods/binding"], ["create"], []),
    ("", ["pods/status"], ["patch", "update"], []),
    ("", ["nodes", "namespaces"], ["get", "list", "watch"], []),
    ("events.k8s.io", ["events"], ["create", "patch", "update"], []),
    ("coordination.k8s.io", ["leases"], ["create"], []),
    ("coordination.k8s.io", ["leases"], ["get", "update"], ["dralloc"]),
    (
        "resource.k8s.io",
        ["resourceclaims"],
        ["get", "list", "watch", "update", "create", "delete"],
        [],
    ),
    ("resource.k8s.io", ["resourceclaims/status"], ["update", "patch"], []),
    ("resource.k8s.io", ["resourceclaims/binding"], ["update", "patch"], []),
    (
        "resource.k8s.io",
        ["resourceslices", "deviceclasses", "devicetaintrules"],
        ["get", "list", "watch"],
        [],
    ),
    ("policy", ["poddisruptionbudgets"], ["get", "list", "watch"], []),
    ("scheduling.k8s.io", ["podgroups"], ["get", "list", "watch"], []),
    # Beyond the table: the PodGroupScheduled condition (kube-scheduler 1.36's own role grants
    # podgroups/status patch and update) and Volcano's and KAI's PodGroups.
    ("scheduling.k8s.io", ["podgroups/status"], ["patch", "update"], []),
    ("scheduling.volcano.sh", ["podgroups"], ["get", "list", "watch"], []),
    ("scheduling.run.ai", ["podgroups"], ["get", "list", "watch"], []),
    # Volcano's enqueue step writes the PodGroup's phase as Volcano's scheduler does.
    ("scheduling.volcano.sh", ["podgroups", "podgroups/status"], ["patch"], []),
]
# "For the resourceclaim controller add:"
SPEC_6_CONTROLLERS = [
    ("resource.k8s.io", ["resourceclaimtemplates"], ["get", "list", "watch"], []),
    ("resource.k8s.io", ["resourceclaims"], ["create", "delete"], []),
    ("", ["pods/status"], ["patch"], []),
]

Grant = tuple[str, str, str, str, str]  # scope (namespace or CLUSTER), group, resource, verb, name


def _grants(rows: list[tuple[str, list[str], list[str], list[str]]], scope: str) -> set[Grant]:
    return {
        (scope, group, resource, verb, name)
        for group, resources, verbs, names in rows
        for resource in resources
        for verb in verbs
        for name in names or [""]
    }


def _rule_grants(rules: list[dict[str, Any]], scope: str) -> set[Grant]:
    return _grants(
        [
            (group, rule["resources"], rule["verbs"], rule.get("resourceNames", []))
            for rule in rules
            for group in rule["apiGroups"]
        ],
        scope,
    )


def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted([*DEPLOY.glob("*.yaml"), *DEPLOY.glob("extras/*.yaml")]):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found[(document["kind"], document["metadata"]["name"])] = document
    return found


def _is_leases(grant: Grant) -> bool:
    return grant[2] == "leases"


def test_the_scheduler_roles_grant_exactly_the_table_of_spec_section_6() -> None:
    manifests = _manifests()
    cluster_role = manifests[("ClusterRole", "dralloc-scheduler")]
    lease_role = manifests[("Role", "dralloc-leader-election")]
    assert lease_role["metadata"]["namespace"] == "kube-system"
    granted = _rule_grants(cluster_role["rules"], CLUSTER) | _rule_grants(
        lease_role["rules"], "kube-system"
    )
    # The Lease rows hold in kube-system only, where the Lease lives; the rest cluster-wide.
    expected = {g for g in _grants(SPEC_6, CLUSTER) if not _is_leases(g)} | {
        g for g in _grants(SPEC_6, "kube-system") if _is_leases(g)
    }
    assert granted == expected


def test_the_controllers_role_grants_exactly_the_resourceclaim_controllers_extras() -> None:
    role = _manifests()[("ClusterRole", "dralloc-controllers")]
    assert _rule_grants(role["rules"], CLUSTER) == _grants(SPEC_6_CONTROLLERS, CLUSTER)


def test_the_bindings_give_the_service_account_the_scheduler_roles_only() -> None:
    manifests = _manifests()
    subject = [{"kind": "ServiceAccount", "name": "dralloc", "namespace": NAMESPACE}]
    for kind, name, role in [
        ("ClusterRoleBinding", "dralloc-scheduler", "dralloc-scheduler"),
        ("RoleBinding", "dralloc-leader-election", "dralloc-leader-election"),
        ("ClusterRoleBinding", "dralloc-controllers", "dralloc-controllers"),
    ]:
        binding = manifests[(kind, name)]
        assert binding["roleRef"]["name"] == role
        assert binding["subjects"] == subject
    # The controllers' binding is opt-in: `kubectl apply -f deploy/` does not recurse.
    top = {path.name for path in DEPLOY.glob("*.yaml")}
    assert not any("controllers-binding" in name for name in top)


def test_the_deployment_runs_leader_elected_non_root_with_probes_on_its_metrics_port() -> None:
    manifests = _manifests()
    deployment = manifests[("Deployment", "dralloc")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == "dralloc"
    assert container["image"] == "ghcr.io/dralloc/dralloc:0.1.0"
    args = container["args"]
    assert args[0] == "scheduler" and "--leader-elect" in args
    assert "--config=/etc/dralloc/config.yaml" in args
    assert "--metrics-bind-address=0.0.0.0:10251" in args
    assert container["ports"] == [{"name": "metrics", "containerPort": 10251, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["replicas"] == 2


def test_the_shipped_configuration_loads_with_one_dralloc_profile() -> None:
    config_map = _manifests()[("ConfigMap", "dralloc-config")]
    raw = yaml.safe_load(config_map["data"]["config.yaml"])
    config = parse_config(raw, "deploy/40-config.yaml", plugin_names())
    assert [p.scheduler_name for p in config.profiles] == ["dralloc"]
    assert config.warnings == ()


def test_kubectl_server_side_dry_run_accepts_every_manifest(kubectl: Kubectl) -> None:
    # A server-side dry run persists nothing, so the namespace the other objects go in must
    # exist for real first.
    kubectl("apply", "-f", str(DEPLOY / "00-namespace.yaml"))
    result = kubectl("apply", "--dry-run=server", "-f", str(DEPLOY), "-f", str(DEPLOY / "extras"))
    lines = result.stdout.strip().splitlines()
    assert all(line.endswith("(server dry run)") for line in lines), result.stdout
    assert len(lines) == len(_manifests())


# ----------------------------------------------------------------------- access reviews


def _can(
    client: ApiClient,
    verb: str,
    group: str,
    resource: str,
    namespace: str = "",
    name: str = "",
    *,
    user: str | None = None,
) -> bool:
    base, _, subresource = resource.partition("/")
    attributes = {
        "verb": verb,
        "group": group,
        "resource": base,
        "subresource": subresource,
        "namespace": namespace,
        "name": name,
    }
    if user is None:
        kind, spec = "SelfSubjectAccessReview", {"resourceAttributes": attributes}
    else:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]
        kind = "SubjectAccessReview"
        spec = {"resourceAttributes": attributes, "user": user, "groups": groups}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec}
    path = f"/apis/authorization.k8s.io/v1/{kind.lower()}s"
    answer = client.create(path, review).raise_for_status().body
    return bool(answer["status"].get("allowed"))


# (verb, group, resource[/subresource], namespace, name): every call of spec 4 and 7.
SCHEDULER_CALLS = [
    ("list", "", "pods", "", ""),
    ("watch", "", "pods", "", ""),
    ("get", "", "pods", "team-a", "train-0"),
    ("delete", "", "pods", "team-a", "victim"),
    ("create", "", "pods/binding", "team-a", "train-0"),
    ("patch", "", "pods/status", "team-a", "train-0"),
    ("update", "", "pods/status", "team-a", "train-0"),
    ("list", "", "nodes", "", ""),
    ("watch", "", "namespaces", "", ""),
    ("create", "events.k8s.io", "events", "team-a", ""),
    ("patch", "events.k8s.io", "events", "team-a", "train-0.1"),
    ("create", "coordination.k8s.io", "leases", "kube-system", ""),
    ("get", "coordination.k8s.io", "leases", "kube-system", "dralloc"),
    ("update", "coordination.k8s.io", "leases", "kube-system", "dralloc"),
    ("list", "resource.k8s.io", "resourceclaims", "", ""),
    ("watch", "resource.k8s.io", "resourceclaims", "", ""),
    ("get", "resource.k8s.io", "resourceclaims", "team-a", "gpu"),
    ("update", "resource.k8s.io", "resourceclaims", "team-a", "gpu"),
    ("create", "resource.k8s.io", "resourceclaims", "team-a", ""),
    ("delete", "resource.k8s.io", "resourceclaims", "team-a", "gpu"),
    ("update", "resource.k8s.io", "resourceclaims/status", "team-a", "gpu"),
    ("patch", "resource.k8s.io", "resourceclaims/status", "team-a", "gpu"),
    ("update", "resource.k8s.io", "resourceclaims/binding", "team-a", "gpu"),
    ("patch", "resource.k8s.io", "resourceclaims/binding", "team-a", "gpu"),
    ("watch", "resource.k8s.io", "resourceslices", "", ""),
    ("list", "resource.k8s.io", "deviceclasses", "", ""),
    ("watch", "resource.k8s.io", "devicetaintrules", "", ""),
    ("list", "policy", "poddisruptionbudgets", "", ""),
    ("watch", "scheduling.k8s.io", "podgroups", "", ""),
    ("patch", "scheduling.k8s.io", "podgroups/status", "team-a", "train"),
    ("list", "scheduling.volcano.sh", "podgroups", "", ""),
    ("watch", "scheduling.run.ai", "podgroups", "", ""),
]
# Calls the scheduler never makes, and must not be able to make.
FORBIDDEN_CALLS = [
    ("get", "", "secrets", "team-a", "token"),
    ("create", "", "pods", "team-a", ""),
    ("update", "", "nodes", "", "node-1"),
    ("update", "coordination.k8s.io", "leases", "kube-system", "kube-scheduler"),
    ("get", "coordination.k8s.io", "leases", "team-a", "dralloc"),
    ("arbitrary-node:update", "resource.k8s.io", "resourceclaims/driver", "team-a", "gpu"),
    ("create", "resource.k8s.io", "deviceclasses", "", ""),
    ("update", "resource.k8s.io", "resourceslices", "", "node-1-gpus"),
    ("list", "resource.k8s.io", "resourceclaimtemplates", "", ""),
]
CONTROLLER_CALLS = [
    ("list", "resource.k8s.io", "resourceclaimtemplates", "", ""),
    ("watch", "resource.k8s.io", "resourceclaimtemplates", "", ""),
    ("get", "resource.k8s.io", "resourceclaimtemplates", "team-a", "gpu-template"),
]


def _denied(client: ApiClient, calls: list[tuple[str, ...]], **user: str) -> list[tuple[str, ...]]:
    return [call for call in calls if not _can(client, *call, **user)]


def _allowed(client: ApiClient, calls: list[tuple[str, ...]], **user: str) -> list[tuple[str, ...]]:
    return [call for call in calls if _can(client, *call, **user)]


def _bind_user(apiserver: ApiServer, kind: str, role: str, namespace: str = "") -> None:
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": {"name": f"{role}-user-dralloc"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dralloc"}],
    }
    if namespace:
        binding["metadata"]["namespace"] = namespace
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"
    else:
        path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    apiserver.admin.create(path, binding).raise_for_status()


def test_a_user_bound_only_to_the_shipped_roles_may_make_the_schedulers_calls_and_no_other(
    apiserver: ApiServer, kubectl: Kubectl
) -> None:
    for name in ("20-clusterrole-scheduler", "21-clusterrole-controllers", "25-lease-role"):
        kubectl("apply", "-f", str(DEPLOY / f"{name}.yaml"))
    dralloc = apiserver.dralloc
    assert _allowed(dralloc, SCHEDULER_CALLS) == []  # nothing before the bindings
    _bind_user(apiserver, "ClusterRole", "dralloc-scheduler")
    _bind_user(apiserver, "Role", "dralloc-leader-election", namespace="kube-system")
    assert _denied(dralloc, SCHEDULER_CALLS) == []
    assert _allowed(dralloc, FORBIDDEN_CALLS) == []
    # The resourceclaim controller's extras come with its own role only.
    assert _allowed(dralloc, CONTROLLER_CALLS) == []
    _bind_user(apiserver, "ClusterRole", "dralloc-controllers")
    assert _denied(dralloc, CONTROLLER_CALLS) == []


def test_the_shipped_bindings_authorize_the_service_account(
    apiserver: ApiServer, kubectl: Kubectl
) -> None:
    kubectl("apply", "-f", str(DEPLOY))
    admin = apiserver.admin
    account = {"user": SERVICE_ACCOUNT}
    assert _denied(admin, SCHEDULER_CALLS, **account) == []
    assert _allowed(admin, FORBIDDEN_CALLS, **account) == []
    kubectl("apply", "-f", str(DEPLOY / "extras" / "controllers-binding.yaml"))
    assert _denied(admin, CONTROLLER_CALLS, **account) == []


# ------------------------------------------------------------------ the node simulator role

SIMULATOR_RULES = "dralloc-node-simulator"
DRIVER = "gpu.example.com"


def _as_user(apiserver: ApiServer, user: str) -> KubeClient:
    # Impersonation by the admin: the harness has certificates for two users only.
    client = KubeClient.connect(apiserver.admin_kubeconfig)
    client.http.headers["Impersonate-User"] = user
    return client


def _bind_role_to(apiserver: ApiServer, role: str, user: str) -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{role}-{user}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    apiserver.admin.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding
    ).raise_for_status()


def _allocated_claim(apiserver: ApiServer, namespace: str, pool: str) -> dict[str, Any]:
    """A claim allocated (by the admin, as a scheduler would) one device of `pool`."""
    path = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": f"claim-{pool}", "namespace": namespace},
        "spec": {
            "devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "sim-gpu"}}]}
        },
    }
    created = apiserver.admin.create(path, claim).raise_for_status().body
    created["status"] = {
        "allocation": {
            "devices": {
                "results": [{"request": "gpu", "driver": DRIVER, "pool": pool, "device": "gpu-0"}]
            }
        }
    }
    return dict(
        apiserver.admin.request("PUT", f"{path}/{created['metadata']['name']}/status", created)
        .raise_for_status()
        .body
    )


def _with_device_status(claim: dict[str, Any], pool: str) -> dict[str, Any]:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "Simulated",
        "message": "",
        "lastTransitionTime": "2026-12-07T00:00:00Z",
    }
    updated = dict(claim)
    updated["status"] = {
        **claim["status"],
        "devices": [{"driver": DRIVER, "pool": pool, "device": "gpu-0", "conditions": [condition]}],
    }
    return updated


def test_the_node_simulator_role_lets_a_non_admin_publish_nodes_and_write_device_status(
    apiserver: ApiServer, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-f", str(DEPLOY / "extras" / "node-simulator-role.yaml"))
    # The same role without `resourceclaims/driver`, to show that rule is what lets it write
    # device status.
    role = _manifests()[("ClusterRole", SIMULATOR_RULES)]
    without_driver = {
        **role,
        "metadata": {"name": "simulator-without-driver"},
        "rules": [r for r in role["rules"] if "resourceclaims/driver" not in r["resources"]],
    }
    apiserver.admin.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles", without_driver
    ).raise_for_status()
    _bind_role_to(apiserver, SIMULATOR_RULES, "simulator")
    _bind_role_to(apiserver, "simulator-without-driver", "half-simulator")

    async def scenario() -> None:
        simulator = _as_user(apiserver, "simulator")
        half = _as_user(apiserver, "half-simulator")
        try:
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "sim-node-1"}}
            await simulator.create(NODES.collection(), node)
            ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
            await simulator.patch(NODES.item(None, "sim-node-1", "status"), ready)
            device_class = {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "DeviceClass",
                "metadata": {"name": "sim-gpu"},
                "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]},
            }
            await simulator.create(DEVICE_CLASSES.collection(), device_class)
            resource_slice = {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": "sim-node-1-gpus"},
                "spec": {
                    "driver": DRIVER,
                    "nodeName": "sim-node-1",
                    "pool": {"name": "sim-node-1", "generation": 1, "resourceSliceCount": 1},
                    "devices": [{"name": "gpu-0"}],
                },
            }
            await simulator.create(RESOURCE_SLICES.collection(), resource_slice)

            claim = _allocated_claim(apiserver, namespace, "sim-node-1")
            status = RESOURCE_CLAIMS.item(namespace, claim["metadata"]["name"], "status")
            with pytest.raises(ApiStatusError) as refused:
                await half.update(status, _with_device_status(claim, "sim-node-1"))
            # The status strategy refuses it as a field error (422), naming the missing verb.
            assert refused.value.code == 422
            assert 'arbitrary-node:update resource "resourceclaims/driver"' in str(refused.value)
            written = await simulator.update(status, _with_device_status(claim, "sim-node-1"))
            assert written["status"]["devices"][0]["conditions"][0]["type"] == "Ready"

            await simulator.delete(RESOURCE_SLICES.item(None, "sim-node-1-gpus"))
            await simulator.delete(NODES.item(None, "sim-node-1"))
            await simulator.delete(DEVICE_CLASSES.item(None, "sim-gpu"))
        finally:
            await simulator.aclose()
            await half.aclose()

    asyncio.run(scenario())
