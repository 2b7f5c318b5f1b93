"""NodePorts: host ports the pod asks for must be free on the node (spec 4.1, row 7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podkit import filter_all, labelled_node, labelled_pod

from dralloc.api.core import Container, ContainerPort, Pod, PodSpec
from dralloc.scheduler.framework import SUCCESS, Code, CycleState, PodInfo, Status
from dralloc.scheduler.framework.nodeinfo import HostPortInfo, host_ports
from dralloc.scheduler.plugins.nodeports import REASON_PORTS, NodePorts

TAKEN = Status.unschedulable(REASON_PORTS).stamped("NodePorts")


def port(host_port: int, protocol: str = "", host_ip: str = "") -> ContainerPort:
    return ContainerPort(container_port=80, host_port=host_port, protocol=protocol, host_ip=host_ip)


def holding(*ports: ContainerPort) -> PodInfo:
    return labelled_pod("running", ports=ports)


@pytest.mark.parametrize(
    ("running", "wanted", "pre_filter", "expected"),
    [
        pytest.param([], [], Code.SKIP, SUCCESS, id="no-host-ports-skips"),
        pytest.param([], [port(0)], Code.SKIP, SUCCESS, id="container-port-only-skips"),
        pytest.param([port(8080)], [port(9090)], Code.SUCCESS, SUCCESS, id="other-port"),
        pytest.param([port(8080, "UDP")], [port(8080, "UDP")], Code.SUCCESS, TAKEN, id="same-udp"),
        pytest.param([port(8080)], [port(8080, "TCP")], Code.SUCCESS, TAKEN, id="tcp-default"),
        pytest.param([port(8080, "UDP")], [port(8080)], Code.SUCCESS, SUCCESS, id="other-proto"),
        pytest.param(
            [port(8080, host_ip="127.0.0.1")],
            [port(8080, host_ip="127.0.0.2")],
            Code.SUCCESS,
            SUCCESS,
            id="other-ip",
        ),
        pytest.param(
            [port(8001, host_ip="127.0.0.1")],
            [port(8001, host_ip="0.0.0.0")],
            Code.SUCCESS,
            TAKEN,
            id="any-ip-clashes-with-one",
        ),
        pytest.param(
            [port(8001)],
            [port(8001, host_ip="10.0.0.7")],
            Code.SUCCESS,
            TAKEN,
            id="one-ip-clashes-with-any",
        ),
        pytest.param(
            [port(8001, "UDP", "127.0.0.1")],
            [port(8001, "TCP", "127.0.0.1"), port(9000)],
            Code.SUCCESS,
            SUCCESS,
            id="several-all-free",
        ),
    ],
)
def test_host_ports_clash_by_ip_protocol_and_port(
    running: list[ContainerPort], wanted: list[ContainerPort], pre_filter: Code, expected: Status
) -> None:
    node = labelled_node("n", pods=[holding(*running)] if running else [])
    pre, statuses = filter_all(NodePorts(), labelled_pod("p", ports=wanted), [node])
    assert pre.code == pre_filter
    assert statuses["n"] == expected


def test_sidecars_take_host_ports_but_plain_init_containers_do_not() -> None:
    sidecar = Container(name="s", restart_policy="Always", ports=[port(7000)])
    plain = Container(name="i", ports=[port(7001)])
    pod = Pod(spec=PodSpec(init_containers=[sidecar, plain], containers=[Container(name="c")]))
    assert [p.host_port for p in host_ports(pod)] == [7000]


def test_a_removed_pod_frees_its_ports_and_a_copy_keeps_its_own() -> None:
    running = holding(port(8080))
    node = labelled_node("n", pods=[running])
    copy = node.copy()
    copy.remove_pod(running.key)
    wanted = labelled_pod("p", ports=[port(8080)])
    plugin = NodePorts()
    state = CycleState()
    plugin.pre_filter(state, wanted, [node])
    assert plugin.filter(state, wanted, copy) == SUCCESS
    assert plugin.filter(state, wanted, node) == TAKEN


PORTS = st.builds(
    port,
    st.integers(min_value=1, max_value=4),
    st.sampled_from(["", "TCP", "UDP"]),
    st.sampled_from(["", "0.0.0.0", "10.0.0.1", "10.0.0.2"]),
)


def _clash(a: ContainerPort, b: ContainerPort) -> bool:
    """The rule, written from its statement: same protocol and port, and the IPs equal or
    either one binds every address."""
    ip_a, ip_b = a.host_ip or "0.0.0.0", b.host_ip or "0.0.0.0"
    return (
        (a.protocol or "TCP") == (b.protocol or "TCP")
        and a.host_port == b.host_port
        and (ip_a == ip_b or "0.0.0.0" in (ip_a, ip_b))
    )


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(st.lists(PORTS, max_size=4), st.lists(PORTS, min_size=1, max_size=3))
def test_filter_admits_a_pod_exactly_when_no_wanted_port_clashes_with_a_used_one(
    used: list[ContainerPort], wanted: list[ContainerPort]
) -> None:
    node = labelled_node("n", pods=[holding(p) for p in used])
    _, statuses = filter_all(NodePorts(), labelled_pod("p", ports=wanted), [node])
    clash = any(_clash(w, u) for w in wanted for u in used)
    assert statuses["n"] == (TAKEN if clash else SUCCESS)


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(st.lists(PORTS, max_size=6))
def test_ports_added_then_removed_leave_nothing_in_use(ports: list[ContainerPort]) -> None:
    info = HostPortInfo()
    for p in ports:
        info.add(p.host_ip, p.protocol, p.host_port)
    for p in ports:
        info.remove(p.host_ip, p.protocol, p.host_port)
    assert len(info) == 0
