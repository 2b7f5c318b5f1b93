"""Random DRA selectors for differential tests of the cost estimate (a uniquely named module
imported by tests/cel/test_cel_cost.py).

The selectors mix what moves the estimate: nested comprehensions over the device's maps and
over literals, `cel.bind`, string concatenation, `lowerAscii`, `matches`, `startsWith`,
`in`, `?:`, quantities, `has()`, `replace`, `split` and `join`, IPs and CIDRs, sets, and
the `device.attributes.dom` field form upstream's size estimator does not know. Some do not
compile upstream (a type error); the test skips those.
"""

from __future__ import annotations

import random

_STRINGS = (
    '"a"',
    '"bcd"',
    '"\u00e9x"',
    "device.driver",
    'device.attributes["d"].model',
    "device.attributes.dom.s",
    "'xyz'",
)
_RANGES = (
    "device.attributes",
    'device.attributes["d"]',
    "device.capacity",
    '["a", "bb"]',
    "[1, 2, 3]",
    '{"k": "v", "kk": "w"}',
    "device.attributes.dom",
    "[device.driver]",
)
_FIXED = (
    'device.capacity["d"].m.compareTo(quantity("1Gi")) > 0',
    'device.capacity["d"].m == quantity("1")',
    'device.capacity["d"]["m"] != quantity("1")',
    "has(device.attributes.dom.s)",
    'has(device.attributes["d"].s)',
    'device.attributes["d"].b',
    "!device.attributes.dom.b",
    'cidr("10.0.0.0/8").containsIP(device.attributes["d"].ip)',
    'cidr(device.attributes["d"].net).containsCIDR("10.1.0.0/16")',
    "isIP(device.attributes.dom.s)",
    'ip(device.attributes["d"].ip).isLoopback()',
    'sets.contains(["a"], [device.driver])',
    'device.attributes["d"].l.sum() > 2',
)


class SelectorGenerator:
    """`SelectorGenerator(random.Random(seed)).selectors(n)`: n selector expressions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def selectors(self, count: int) -> list[str]:
        return [self.boolean(0, ()) for _ in range(count)]

    def boolean(self, depth: int, names: tuple[str, ...]) -> str:
        rng = self.rng
        kind = rng.randrange(12 if depth < 3 else 8)
        deeper = depth + 1
        if kind == 0:
            return rng.choice(("true", "false"))
        if kind == 1:
            return f"{self.string(depth, names)} == {self.string(depth, names)}"
        if kind == 2:
            return f"{self.string(depth, names)}.startsWith({self.string(depth, names)})"
        if kind == 3:
            return f"({self.boolean(deeper, names)} && {self.boolean(deeper, names)})"
        if kind == 4:
            return f"({self.boolean(deeper, names)} || !{self.boolean(deeper, names)})"
        if kind == 5:
            return f"{self.string(depth, names)}.matches({self.string(depth, names)})"
        if kind == 6:
            return f"{self.string(depth, names)} in {self.range(names)}"
        if kind == 7:
            return f"{self.integer(depth, names)} < {self.integer(depth, names)}"
        if kind == 8:
            bound = f"b{depth}"
            body = self.boolean(deeper, (*names, bound))
            return f"cel.bind({bound}, {self.string(depth, names)}, {body})"
        if kind == 9:
            branches = f"{self.boolean(deeper, names)} : {self.string(depth, names)} != 'q'"
            return f"({self.boolean(deeper, names)} ? {branches})"
        if kind == 10:
            return rng.choice(_FIXED)
        variable = f"s{depth}"
        macro = rng.choice(("all", "exists", "exists_one"))
        body = self.boolean(deeper, (*names, variable))
        return f"{self.range(names)}.{macro}({variable}, {body})"

    def string(self, depth: int, names: tuple[str, ...]) -> str:
        rng = self.rng
        if names and rng.random() < 0.4:
            return rng.choice(names)
        kind = rng.randrange(7)
        if kind == 0:
            return f"{self.string(depth, names)}.lowerAscii()"
        if kind == 1 and depth < 4:
            return f"({self.string(depth + 1, names)} + {self.string(depth + 1, names)})"
        if kind == 2 and depth < 4:
            replaced = ", ".join(self.string(depth + 1, names) for _ in range(3))
            return replaced.replace(", ", ".replace(", 1) + ")"
        if kind == 3 and depth < 4:
            return f'{self.string(depth + 1, names)}.split(",").join("-")'
        return rng.choice(_STRINGS)

    def integer(self, depth: int, names: tuple[str, ...]) -> str:
        kind = self.rng.randrange(4)
        if kind == 0:
            return f"size({self.string(depth, names)})"
        if kind == 1:
            return 'device.attributes["d"].n'
        if kind == 2:
            return f"{self.range(names)}.size()"
        return str(self.rng.randrange(100))

    def range(self, names: tuple[str, ...]) -> str:
        loops = tuple(f"device.attributes[{n}]" for n in names if n.startswith("s"))
        return self.rng.choice(_RANGES + loops)
