"""The Kubernetes IP and CIDR CEL libraries (`dralloc.cel.network_lib`) against upstream.

The answers in tests/cel/data/upstream_network_answers.tsv were printed by Kubernetes
1.36.3's `DeviceMatches` on NETWORK_DEVICE (tests/cel/upstream_eval, rebuilt and re-run by
the k8s-marked test at the end); their costs are rows of upstream_selector_costs.tsv.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cel_testing import answer, make_device, upstream_answers

from dralloc.api.resource import Device
from dralloc.cel import CelDevice, CelEnvironment
from dralloc.features import Features

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "upstream_network_answers.tsv"
NETWORK_DRIVER = "gpu.x"
NETWORK_ATTRIBUTES: dict[str, str | int] = {
    "ip": "10.1.2.3",
    "ip6": "fe80::1",
    "net": "10.1.0.0/16",
    "bad": "not-an-ip",
    "mapped": "::ffff:1.2.3.4",
    "zone": "fe80::1%eth0",
    "n": 4,
}
NETWORK_DEVICE: Device = make_device(attributes=NETWORK_ATTRIBUTES)

# Both refuse these selectors, upstream when it type checks them, dralloc when it evaluates
# them: a comprehension over an attribute with DRAListTypeAttributes off, and a member
# called on a receiver of another library's type.
REFUSED_AT_EVALUATION = frozenset(
    {
        'device.attributes["gpu.x"].ips.exists(a, ip(a).family() == 6)',
        'cidr("10.0.0.0/8").family() == 4',
    }
)


def _comparable(message: str) -> str:
    """An evaluation error's words up to where Go names a parse failure's exact reason
    (`ParseAddr("1.2.3"): IPv4 address too short`), which dralloc gives generically."""
    for cut in ('ParseAddr("', "no such overload"):
        if cut in message:
            return message[: message.index(cut) + len(cut)]
    return message


def test_selectors_on_addresses_answer_as_upstream() -> None:
    rows = upstream_answers(TABLE)
    assert len(rows) > 90
    env = CelEnvironment(Features())
    device = CelDevice.build(NETWORK_DRIVER, NETWORK_DEVICE, Features())
    for expression, upstream in rows:
        ours = answer(env, device, expression)
        kind, upstream_kind = ours.split(" ")[0], upstream.split(" ")[0]
        if expression in REFUSED_AT_EVALUATION:
            assert (kind, upstream_kind) == ("ERR", "COMPILE"), (expression, ours)
            continue
        assert kind == upstream_kind, (expression, ours, upstream)
        if kind == "ERR":
            assert _comparable(ours) == _comparable(upstream), (expression, ours, upstream)


def test_addresses_compare_by_value_and_print_canonically() -> None:
    env = CelEnvironment(Features())
    device = CelDevice.build(NETWORK_DRIVER, NETWORK_DEVICE, Features())
    for expression in (
        'ip("2001:DB8:0:0::1") == ip("2001:db8::1")',
        'string(ip("2001:DB8:0:0::1")) == "2001:db8::1"',
        'cidr("10.1.2.3/8") != cidr("10.0.0.0/8")',
        'string(cidr("10.1.2.3/8").masked()) + "," + string(2) == "10.0.0.0/8,2"',
        'string(cidr(device.attributes["gpu.x"].net).ip()) == "10.1.0.0"',
    ):
        assert answer(env, device, expression) == "true", expression


def test_a_selector_without_addresses_keeps_the_librarys_string() -> None:
    """`string()` goes through Python only in selectors that make IPs or CIDRs."""
    from dralloc.cel.library import STRING_OF_NETWORK

    env = CelEnvironment(Features())
    plain = env.compile('string(1) == "1"')
    with_address = env.compile('string(ip("::1")) == "::1"')
    assert STRING_OF_NETWORK not in plain._program.source
    assert STRING_OF_NETWORK in with_address._program.source


def test_types_are_checked_at_compile_time() -> None:
    env = CelEnvironment(Features(), stored=False)
    assert env.check('ip("1.2.3.4") == "1.2.3.4"') == [
        "found no matching overload for '_==_' applied to '(net.IP, string)'"
    ]
    assert env.check('ip("1.2.3.4") < ip("1.2.3.5")') == [
        "found no matching overload for '_<_' applied to '(net.IP, net.IP)'"
    ]
    assert env.check('cidr("10.0.0.0/8")') == [
        "must evaluate to bool or the unknown type, not net.CIDR"
    ]
    assert env.check('ip("1.2.3.4").isCanonical()') == ["undeclared reference to 'isCanonical'"]


def test_a_comprehension_variable_named_ip_is_no_namespace() -> None:
    env = CelEnvironment(Features())
    device = CelDevice.build(NETWORK_DRIVER, NETWORK_DEVICE, Features())
    assert answer(env, device, '["a"].exists(ip, ip.startsWith("a"))') == "true"
    assert answer(env, device, 'ip.isCanonical("::1")') == "true"


@pytest.mark.k8s
def test_the_table_is_what_upstream_prints(upstream_eval: Path) -> None:
    rows = upstream_answers(TABLE)
    attributes = {
        name: {"int": value} if isinstance(value, int) else {"string": value}
        for name, value in NETWORK_ATTRIBUTES.items()
    }
    lines = [
        json.dumps({"expression": e, "driver": NETWORK_DRIVER, "attributes": attributes})
        for e, _ in rows
    ]
    printed = subprocess.run(
        [str(upstream_eval), "gates-off"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert printed == [answer for _, answer in rows]
