"""Which cluster events requeue a pod the pod-to-pod plugins rejected (spec 1.8)."""

from __future__ import annotations

from podkit import (
    HOSTNAME,
    ZONE,
    affinity_term,
    labelled_node,
    labelled_pod,
    pod_affinity,
    selector,
    spread,
)

from dralloc.api.core import ContainerPort, Taint
from dralloc.scheduler.framework import ClusterEvent, QueueingHint
from dralloc.scheduler.framework.events import ClusterEventWithHint
from dralloc.scheduler.plugins.interpodaffinity import InterPodAffinity
from dralloc.scheduler.plugins.nodeports import NodePorts
from dralloc.scheduler.plugins.podtopologyspread import PodTopologySpread

QUEUE, SKIP = QueueingHint.QUEUE, QueueingHint.QUEUE_SKIP


def _hint(registrations: object, resource: str, action: str) -> ClusterEventWithHint:
    assert isinstance(registrations, tuple)
    incoming = ClusterEvent(resource, action)
    (found,) = [r for r in registrations if r.event.matches(incoming)]
    return found


def test_node_ports_requeue_on_a_deleted_pod_that_held_a_wanted_port() -> None:
    wanted = labelled_pod("p", ports=[ContainerPort(host_port=80)])
    hint = _hint(NodePorts().events_to_register(), "Pod", "Delete").hint
    assert hint is not None
    holder = labelled_pod("h", ports=[ContainerPort(host_port=80)])
    other = labelled_pod("o", ports=[ContainerPort(host_port=81)])
    assert hint(wanted, holder, None) == QUEUE
    assert hint(wanted, other, None) == SKIP


def test_topology_spread_requeues_on_matching_pods_and_topology_labels() -> None:
    plugin = PodTopologySpread()
    pod = labelled_pod(
        "p", {"app": "web"}, spread_constraints=[spread(1, ZONE, labels=selector(app="web"))]
    )
    pods = _hint(plugin.events_to_register(), "Pod", "Delete").hint
    nodes = _hint(plugin.events_to_register(), "Node", "UpdateNodeLabel").hint
    assert pods is not None and nodes is not None
    assert pods(pod, labelled_pod("w", {"app": "web"}), None) == QUEUE
    assert pods(pod, labelled_pod("x", {"app": "db"}), None) == SKIP
    assert pods(pod, labelled_pod("y", {"app": "web"}, namespace="else"), None) == SKIP
    before = labelled_node("n", {ZONE: "a"})
    assert nodes(pod, before, labelled_node("n", {ZONE: "b"})) == QUEUE
    assert nodes(pod, before, labelled_node("n", {ZONE: "a", "x": "y"})) == SKIP
    assert nodes(pod, None, labelled_node("m", {ZONE: "c"})) == QUEUE
    assert nodes(pod, None, labelled_node("m")) == SKIP


def test_topology_spread_honouring_taints_requeues_on_a_taint_change() -> None:
    constraint = spread(1, ZONE, labels=selector(app="web"), taints_policy="Honor")
    pod = labelled_pod("p", {"app": "web"}, spread_constraints=[constraint])
    nodes = _hint(PodTopologySpread().events_to_register(), "Node", "UpdateNodeTaint").hint
    assert nodes is not None
    tainted = labelled_node("n", {ZONE: "a"}, taints=[Taint(key="k", effect="NoSchedule")])
    assert nodes(pod, tainted, labelled_node("n", {ZONE: "a"})) == QUEUE


def test_inter_pod_affinity_requeues_on_pods_its_terms_or_their_terms_select() -> None:
    plugin = InterPodAffinity()
    wants_db = labelled_pod(
        "p", {"app": "web"}, affinity=pod_affinity(required=[affinity_term(ZONE, {"app": "db"})])
    )
    pods = _hint(plugin.events_to_register(), "Pod", "Add").hint
    nodes = _hint(plugin.events_to_register(), "Node", "Add").hint
    assert pods is not None and nodes is not None
    assert pods(wants_db, None, labelled_pod("d", {"app": "db"})) == QUEUE
    assert pods(wants_db, None, labelled_pod("c", {"app": "cache"})) == SKIP
    repelling = labelled_pod(
        "r",
        {"app": "cache"},
        anti_affinity=pod_affinity(required=[affinity_term(HOSTNAME, {"app": "web"})]),
    )
    assert pods(labelled_pod("q", {"app": "web"}), repelling, None) == QUEUE
    assert nodes(wants_db, None, labelled_node("n", {ZONE: "a"})) == QUEUE
    assert nodes(wants_db, None, labelled_node("n", hostname=True)) == SKIP
