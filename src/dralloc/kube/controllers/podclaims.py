"""What a pod's claims are, read from objects as the server sends them, and the bodies the
ResourceClaim controller sends: pure functions, no I/O (`resourceclaim.py` does the calls).

The rules are k8s.io/dynamic-resource-allocation/resourceclaim's (`Name`, `IsForPod`,
`IsReservedForPod`) and kube-controller-manager's controller (`isPodDone`,
`podNeedsClaims`, the claim it creates, the status it applies).
"""

from __future__ import annotations

from typing import Any

from dralloc.controllers.resourceclaim import POD_CLAIM_NAME_ANNOTATION, generate_name_prefix
from dralloc.kube.client import RESOURCE_CLAIMS, KubeDict
from dralloc.kube.controllers.base import (
    is_being_deleted,
    is_pod_terminal,
    metadata,
    name_of,
    namespace_of,
    node_name_of,
    owner_references,
    uid_of,
)


class ClaimNotCreated(Exception):
    """A pod claim from a template has no entry in `status.resourceClaimStatuses` yet
    (resourceclaim.ErrClaimNotFound)."""


class UnsupportedPodClaim(Exception):
    """A pod claim names neither a claim nor a template (resourceclaim.ErrAPIUnsupported)."""


def pod_claim_name(pod: KubeDict, pod_claim: dict[str, Any]) -> tuple[str | None, bool]:
    """The claim a pod claim refers to and whether its owner must be checked
    (k8s.io/dynamic-resource-allocation/resourceclaim.Name). None means the controller
    decided earlier that no claim is needed. Raises ClaimNotCreated or UnsupportedPodClaim.

    >>> pod_claim_name({"spec": {}}, {"name": "gpu", "resourceClaimName": "shared"})
    ('shared', False)
    """
    if pod_claim.get("resourceClaimName") is not None:
        return str(pod_claim["resourceClaimName"]), False
    if pod_claim.get("resourceClaimTemplateName") is not None:
        for status in (pod.get("status") or {}).get("resourceClaimStatuses") or []:
            if status.get("name") == pod_claim.get("name"):
                name = status.get("resourceClaimName")
                return (str(name) if name is not None else None), True
        raise ClaimNotCreated(
            f'pod "{namespace_of(pod)}/{name_of(pod)}": resource claim not created yet'
        )
    raise UnsupportedPodClaim(
        f'pod "{namespace_of(pod)}/{name_of(pod)}", spec.resourceClaim '
        f'"{pod_claim.get("name")}": unsupported PodResourceClaim source'
    )


def pod_claims(pod: KubeDict) -> list[dict[str, Any]]:
    claims = (pod.get("spec") or {}).get("resourceClaims")
    return [c for c in claims if isinstance(c, dict)] if isinstance(claims, list) else []


def is_pod_done(pod: KubeDict) -> bool:
    """None of its containers runs or ever will: terminal, or deleted before it was
    scheduled (upstream's isPodDone)."""
    return is_pod_terminal(pod) or (is_being_deleted(pod) and not node_name_of(pod))


def pod_needs_claims(pod: KubeDict, deleted: bool) -> bool:
    """Whether the pod may still use its claims (upstream's podNeedsClaims)."""
    return not (deleted or is_pod_done(pod))


def is_for_pod(pod: KubeDict, claim: KubeDict) -> bool:
    """The claim is in the pod's namespace and controlled by it (resourceclaim.IsForPod:
    metav1.IsControlledBy compares the UID)."""
    if namespace_of(claim) != namespace_of(pod):
        return False
    return any(
        ref.get("controller") is True and ref.get("uid") == uid_of(pod)
        for ref in owner_references(claim)
    )


def is_reserved_for_pod(pod: KubeDict, claim: KubeDict) -> bool:
    return any(entry.get("uid") == uid_of(pod) for entry in reserved_for(claim))


def reserved_for(claim: KubeDict) -> list[dict[str, Any]]:
    entries = (claim.get("status") or {}).get("reservedFor")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def is_allocated(claim: KubeDict) -> bool:
    return bool((claim.get("status") or {}).get("allocation"))


def owning_pod(claim: KubeDict) -> tuple[str, str]:
    """Name and UID of the pod controlling a generated claim, or empty strings."""
    for ref in owner_references(claim):
        if (
            ref.get("controller") is True
            and ref.get("apiVersion") == "v1"
            and ref.get("kind") == "Pod"
        ):
            return str(ref.get("name", "")), str(ref.get("uid", ""))
    return "", ""


def claim_from_template(pod: KubeDict, pod_claim: str, template: KubeDict) -> KubeDict:
    """The ResourceClaim the controller POSTs for one pod claim: `generateName`
    `<pod>-<claim>-` (cut as upstream cuts it), a controller owner reference to the pod (no
    blockOwnerDeletion: kcm 1.36 sets only `controller`), the template's labels and
    annotations plus the pod-claim-name annotation, and the template's claim spec as sent."""
    template_spec = template.get("spec") or {}
    template_meta = template_spec.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[POD_CLAIM_NAME_ANNOTATION] = pod_claim
    meta: dict[str, Any] = {
        "generateName": generate_name_prefix(name_of(pod), pod_claim),
        "namespace": namespace_of(pod),
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": name_of(pod),
                "uid": uid_of(pod),
                "controller": True,
            }
        ],
        "annotations": annotations,
    }
    labels = template_meta.get("labels")
    if labels:
        meta["labels"] = dict(labels)
    return {
        "apiVersion": RESOURCE_CLAIMS.api_version,
        "kind": RESOURCE_CLAIMS.kind,
        "metadata": meta,
        "spec": template_spec.get("spec") or {},
    }


def resource_claim_statuses_apply(pod: KubeDict, claims: dict[str, str]) -> KubeDict:
    """The server-side apply body recording `claims` (pod claim -> claim name) in the pod's
    `status.resourceClaimStatuses`, in the order of the pod's spec."""
    order = {c.get("name"): i for i, c in enumerate(pod_claims(pod))}
    entries = [
        {"name": pod_claim, "resourceClaimName": claim}
        for pod_claim, claim in sorted(claims.items(), key=lambda kv: order.get(kv[0], 0))
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name_of(pod), "namespace": namespace_of(pod)},
        "status": {"resourceClaimStatuses": entries},
    }


def claim_names_of_pod(pod: KubeDict) -> list[str]:
    """`ns/claim` for each claim the pod refers to by now (upstream's podResourceClaimIndex)."""
    names = []
    for pod_claim in pod_claims(pod):
        try:
            name, _ = pod_claim_name(pod, pod_claim)
        except (ClaimNotCreated, UnsupportedPodClaim):
            continue
        if name is not None:
            names.append(f"{namespace_of(pod)}/{name}")
    return names


def templates_of_pod(pod: KubeDict) -> list[str]:
    return [
        f"{namespace_of(pod)}/{c['resourceClaimTemplateName']}"
        for c in pod_claims(pod)
        if c.get("resourceClaimTemplateName") is not None
    ]


def pod_owner_uids(claim: KubeDict) -> list[str]:
    """UIDs of pods controlling the claim (upstream's claimPodOwnerIndex)."""
    return [
        str(ref.get("uid", ""))
        for ref in owner_references(claim)
        if ref.get("controller") is True
        and ref.get("apiVersion") == "v1"
        and ref.get("kind") == "Pod"
    ]


def copy_claim(claim: KubeDict) -> KubeDict:
    """A copy deep enough to edit metadata and status without touching the informer's."""
    copied = dict(claim)
    copied["metadata"] = dict(metadata(claim))
    copied["status"] = dict(claim.get("status") or {})
    return copied
