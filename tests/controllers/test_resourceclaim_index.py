"""The claim index: a pod's claims are found by lookup, so syncing N pods costs O(N) whatever
the namespace holds, and the index answers exactly what a scan would."""

from __future__ import annotations

import random
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import Pod, PodResourceClaim, PodSpec
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.resource import (
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceClaimTemplateSpec,
)
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.controllers.resourceclaim import ClaimStore, is_for_pod

NAMESPACE = "ml"


class CountingClient(InMemoryClaimClient):
    """Counts every claim the controller is handed while looking for a pod's claims."""

    def __init__(self, claims: Iterable[ResourceClaim] = ()) -> None:
        template = ResourceClaimTemplate(
            metadata=ObjectMeta(name="gpu", namespace=NAMESPACE), spec=ResourceClaimTemplateSpec()
        )
        super().__init__(claims, [template], rng=random.Random(0))
        self.examined = 0
        self.scans = 0

    def claims_in(self, namespace: str) -> Iterable[ResourceClaim]:
        self.scans += 1
        found = list(super().claims_in(namespace))
        self.examined += len(found)
        return found

    def claims_for_pod(self, namespace: str, pod_name: str) -> Iterable[ResourceClaim]:
        found = list(super().claims_for_pod(namespace, pod_name))
        self.examined += len(found)
        return found


class ScanningClient(InMemoryClaimClient):
    """The plain path: a pod's claims by scanning the namespace."""

    def claims_for_pod(self, namespace: str, pod_name: str) -> Iterable[ResourceClaim]:
        return [
            c
            for c in self.claims_in(namespace)
            if any(
                r.controller and r.kind == "Pod" and r.name == pod_name
                for r in c.metadata.owner_references
            )
        ]


def _pod(index: int) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=f"train-{index}", namespace=NAMESPACE, uid=f"uid-{index}"),
        spec=PodSpec(
            resource_claims=[
                PodResourceClaim(name="a", resource_claim_template_name="gpu"),
                PodResourceClaim(name="b", resource_claim_template_name="gpu"),
            ]
        ),
    )


def _unrelated(count: int) -> list[ResourceClaim]:
    return [
        ResourceClaim(metadata=ObjectMeta(name=f"other-{i}", namespace=NAMESPACE))
        for i in range(count)
    ]


def _examined_per_pod(pods: int, unrelated: int) -> float:
    client = CountingClient(_unrelated(unrelated))
    controller = ResourceClaimController(client)
    for index in range(pods):
        controller.sync_pod(_pod(index))
    # Again without the recorded statuses: each claim is found through the owner index.
    for index in range(pods):
        assert controller.sync_pod(_pod(index)).created == ()
    assert client.scans == 0
    return client.examined / pods


def test_syncing_pods_never_scans_the_namespace_and_examines_a_constant_number_of_claims() -> None:
    small = _examined_per_pod(pods=20, unrelated=10)
    large = _examined_per_pod(pods=400, unrelated=2000)
    # Only the pod's own claims, per template entry: 0 then 1 while they are made, 2 and 2
    # when found again. No other pod's claim, no unrelated claim.
    assert small == large == 5


def test_the_index_follows_direct_edits_of_the_claims_mapping() -> None:
    client = InMemoryClaimClient()
    owned = ResourceClaim(
        metadata=ObjectMeta(
            name="c",
            namespace=NAMESPACE,
            owner_references=[OwnerReference(kind="Pod", name="p", controller=True)],
        )
    )
    client.claims[(NAMESPACE, "c")] = owned
    assert list(client.claims_for_pod(NAMESPACE, "p")) == [owned]
    client.claims[(NAMESPACE, "c")] = ResourceClaim(
        metadata=ObjectMeta(name="c", namespace=NAMESPACE)
    )
    assert list(client.claims_for_pod(NAMESPACE, "p")) == []
    client.claims[(NAMESPACE, "c")] = owned
    client.claims.pop((NAMESPACE, "c"))
    assert list(client.claims_for_pod(NAMESPACE, "p")) == []
    assert len(client.claims) == 0


_keys = st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["c0", "c1", "c2", "c3"]))
_owners = st.lists(
    st.tuples(st.sampled_from(["Pod", "Job"]), st.sampled_from(["p0", "p1"]), st.booleans()),
    max_size=2,
)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _keys, _owners),
        st.tuples(st.just("delete"), _keys, st.just([])),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_operations)
def test_the_index_answers_what_a_scan_of_the_mapping_answers(
    operations: list[tuple[str, tuple[str, str], list[tuple[str, str, bool]]]],
) -> None:
    store = ClaimStore()
    plain: dict[tuple[str, str], ResourceClaim] = {}
    for operation, key, owners in operations:
        if operation == "set":
            claim = ResourceClaim(
                metadata=ObjectMeta(
                    name=key[1],
                    namespace=key[0],
                    owner_references=[
                        OwnerReference(kind=kind, name=name, controller=controller)
                        for kind, name, controller in owners
                    ],
                )
            )
            store[key] = claim
            plain[key] = claim
        else:
            store.pop(key, None)
            plain.pop(key, None)
        assert list(store.items()) == list(plain.items())
        for namespace in ("a", "b"):
            for pod in ("p0", "p1"):
                expected = [
                    c
                    for (ns, _), c in plain.items()
                    if ns == namespace
                    and any(
                        r.controller and r.kind == "Pod" and r.name == pod
                        for r in c.metadata.owner_references
                    )
                ]
                assert store.owned_by(namespace, pod) == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=12))
def test_the_controller_creates_and_finds_the_same_claims_with_the_index_as_with_a_scan(
    order: list[int],
) -> None:
    results = []
    for client_type in (InMemoryClaimClient, ScanningClient):
        template = ResourceClaimTemplate(
            metadata=ObjectMeta(name="gpu", namespace=NAMESPACE), spec=ResourceClaimTemplateSpec()
        )
        client = client_type(_unrelated(3), [template], rng=random.Random(1))
        controller = ResourceClaimController(client)
        synced = [controller.sync_pod(_pod(index)) for index in order]
        results.append(
            (
                [[c.metadata.name for c in r.created] for r in synced],
                [r.pod.status for r in synced],
                sorted(client.claims),
            )
        )
        for result in synced:
            for claim in result.created:
                assert is_for_pod(result.pod, claim)
    assert results[0] == results[1]
