"""The Kubernetes CEL IP and CIDR libraries (k8s.io/apiserver/pkg/cel/library ip.go, cidr.go).

Owns the Python side of `ip(s)`, `isIP(s)`, `ip.isCanonical(s)`, the IP members (`family`,
`isUnspecified`, `isLoopback`, `isLinkLocalMulticast`, `isLinkLocalUnicast`,
`isGlobalUnicast`), `cidr(s)`, `isCIDR(s)`, the CIDR members (`containsIP`, `containsCIDR`,
`ip`, `masked`, `prefixLength`) and `string()` of both, in the DRA selector environment since
Kubernetes 1.30's base environment. Addresses travel through the Rust library as tagged
strings of their canonical form (see `values.py`), so CEL's own `==` compares them by value
as upstream's `IP.Equal` and `CIDR.Equal` do (a CIDR keeps its host bits: `10.0.0.1/8` is not
`10.0.0.0/8`).

Parsing follows Go's `net/netip` as upstream uses it: dotted-quad IPv4 without leading
zeros, IPv6 with no zone (`%eth0` is refused), and no IPv4-mapped IPv6 address
(`::ffff:1.2.3.4`); a prefix length is decimal. The canonical form is Go's `Addr.String()`,
RFC 5952 for IPv6, which Python's `ipaddress` writes alike. Functions here may raise
`EvalError`; `library.py` wraps them. Pure computation, no I/O.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from dralloc.cel.values import CIDR_TAG, IP_TAG, EvalError

__all__ = [
    "cidr",
    "cidr_ip",
    "contains_cidr",
    "contains_ip",
    "family",
    "ip",
    "is_canonical",
    "is_cidr",
    "is_global_unicast",
    "is_ip",
    "is_link_local_multicast",
    "is_link_local_unicast",
    "is_loopback",
    "is_unspecified",
    "masked",
    "prefix_length",
    "to_string",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_TAG_LEN: Final = len(IP_TAG)
_BROADCAST: Final = ipaddress.IPv4Address("255.255.255.255")


def _no_overload() -> EvalError:
    return EvalError("no such overload")


def _plain(value: Any) -> str:
    """A string argument that is no tagged value (a Quantity, an IP...)."""
    if not isinstance(value, str) or value.startswith("\x00"):
        raise _no_overload()
    return value


def _parse_address(raw: str) -> Address:
    """Go's `netip.ParseAddr` with upstream's refusals (`parseIPAddr`); ValueError names why."""
    if "%" in raw:
        if _parses(raw.partition("%")[0]):
            raise ValueError(f'IP address "{raw}" with zone value is not allowed')
        raise ValueError(_parse_error(raw))
    if not _parses(raw):
        raise ValueError(_parse_error(raw))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f'IPv4-mapped IPv6 address "{raw}" is not allowed')
    return address


def _parses(raw: str) -> bool:
    # Python's parser takes what Go's takes for these forms (no leading zeros in IPv4
    # octets since 3.9.5), and never an integer or a scope here (`%` is handled above).
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        return False
    return True


def _parse_error(raw: str) -> str:
    # Go names the reason (a leading zero, too short...); only its generic words here.
    return (
        f'IP Address "{raw}" parse error during conversion from string: '
        f'ParseAddr("{raw}"): unable to parse IP'
    )


def _address(value: Any) -> Address:
    if not isinstance(value, str) or not value.startswith(IP_TAG):
        raise _no_overload()
    return ipaddress.ip_address(value[_TAG_LEN:])


def _network(value: Any) -> tuple[Address, int]:
    """A CIDR value: its address as written (host bits kept) and its prefix length."""
    if not isinstance(value, str) or not value.startswith(CIDR_TAG):
        raise _no_overload()
    address, _, bits = value[_TAG_LEN:].rpartition("/")
    return ipaddress.ip_address(address), int(bits)


def _encode_address(address: Address) -> str:
    return IP_TAG + address.compressed


def _encode_network(address: Address, bits: int) -> str:
    return f"{CIDR_TAG}{address.compressed}/{bits}"


_NETWORK_ERROR: Final = "network address parse error during conversion from string: "


def _parse_network(raw: str) -> tuple[Address, int]:
    """Go's `netip.ParsePrefix` with upstream's refusal of IPv4-mapped addresses; the
    ValueError's text is upstream's `parseCIDR`'s."""
    parse = f'{_NETWORK_ERROR}netip.ParsePrefix("{raw}")'
    text, slash, bits = raw.rpartition("/")
    if not slash:
        raise ValueError(f"{parse}: no '/'")
    if "%" in text:
        raise ValueError(f"{parse}: IPv6 zones cannot be present in a prefix")
    if not _parses(text):
        raise ValueError(f"{parse}: unable to parse IP")
    address = ipaddress.ip_address(text)
    if not bits.isascii() or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        raise ValueError(f'{parse}: bad bits after slash: "{bits}"')
    if int(bits) > address.max_prefixlen:
        raise ValueError(f"{parse}: prefix length out of range")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f'IPv4-mapped IPv6 address "{raw}" is not allowed')
    return address, int(bits)


def _cidr_error(exc: ValueError) -> EvalError:
    """The error of `cidr(s)` (upstream's `stringToCIDR` wraps `parseCIDR`'s once more)."""
    return EvalError(f"{_NETWORK_ERROR}{exc}")


def _masked(address: Address, bits: int) -> Network:
    return ipaddress.ip_network((address, bits), strict=False)


# ------------------------------------------------------------------------------------- IP


def ip(value: Any) -> str:
    """`ip(s)`, or the CIDR member `c.ip()` (the prefix's address, host bits kept)."""
    if isinstance(value, str) and value.startswith(CIDR_TAG):
        return cidr_ip(value)
    try:
        return _encode_address(_parse_address(_plain(value)))
    except ValueError as exc:
        raise EvalError(str(exc)) from None


def is_ip(value: Any) -> bool:
    try:
        _parse_address(_plain(value))
    except ValueError:
        return False
    return True


def is_canonical(value: Any) -> bool:
    """`ip.isCanonical(s)`: whether `s` is written as Go writes the address."""
    raw = _plain(value)
    try:
        return _parse_address(raw).compressed == raw
    except ValueError as exc:
        raise EvalError(str(exc)) from None


def family(value: Any) -> int:
    return _address(value).version


def is_unspecified(value: Any) -> bool:
    return _address(value).is_unspecified


def is_loopback(value: Any) -> bool:
    return _address(value).is_loopback


def is_link_local_multicast(value: Any) -> bool:
    """Go's `IsLinkLocalMulticast`: 224.0.0.0/24, or ff02::/16 (any flags nibble)."""
    address = _address(value)
    if address.version == 4:
        return int(address) >> 8 == 0xE00000
    return (int(address) >> 112) & 0xFF0F == 0xFF02


def is_link_local_unicast(value: Any) -> bool:
    return _address(value).is_link_local


def is_global_unicast(value: Any) -> bool:
    """Go's `IsGlobalUnicast`: private ranges included; neither unspecified, loopback,
    multicast, link-local unicast nor the IPv4 broadcast address."""
    address = _address(value)
    return not (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or address.is_link_local
        or address == _BROADCAST
    )


# ----------------------------------------------------------------------------------- CIDR


def cidr(value: Any) -> str:
    try:
        return _encode_network(*_parse_network(_plain(value)))
    except ValueError as exc:
        raise _cidr_error(exc) from None


def is_cidr(value: Any) -> bool:
    try:
        _parse_network(_plain(value))
    except ValueError:
        return False
    return True


def cidr_ip(value: Any) -> str:
    return _encode_address(_network(value)[0])


def prefix_length(value: Any) -> int:
    return _network(value)[1]


def masked(value: Any) -> str:
    address, bits = _network(value)
    return _encode_network(_masked(address, bits).network_address, bits)


def contains_ip(value: Any, other: Any) -> bool:
    """`c.containsIP(ip)` or `c.containsIP("1.2.3.4")`; an unparsable string is "no such
    overload", as upstream's string overload hands the parse error to the IP overload."""
    network = _masked(*_network(value))
    if isinstance(other, str) and not other.startswith(IP_TAG):
        try:
            address = _parse_address(_plain(other))
        except ValueError:
            raise _no_overload() from None
    else:
        address = _address(other)
    return address.version == network.version and address in network


def contains_cidr(value: Any, other: Any) -> bool:
    """`c.containsCIDR(c2)`: both overlap and `c2` is as long a prefix at least."""
    network = _masked(*_network(value))
    if isinstance(other, str) and not other.startswith(CIDR_TAG):
        try:
            inner_address, inner_bits = _parse_network(_plain(other))
        except ValueError as exc:
            raise _cidr_error(exc) from None
    else:
        inner_address, inner_bits = _network(other)
    inner = _masked(inner_address, inner_bits)
    return (
        inner.version == network.version
        and network.overlaps(inner)
        and (network.prefixlen <= inner_bits)
    )


# --------------------------------------------------------------------------------- string


def to_string(value: Any) -> Any:
    """`string(x)` where x may be an IP or a CIDR: their written form; other values as the
    library's `string()` converts them (this function replaces it only in expressions that
    use these libraries)."""
    if isinstance(value, str) and value.startswith((IP_TAG, CIDR_TAG)):
        return value[_TAG_LEN:]
    if isinstance(value, str) and value.startswith("\x00"):
        raise _no_overload()  # a Quantity or a Semver has no string() upstream
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise _no_overload()
