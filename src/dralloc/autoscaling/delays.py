"""Provisioning delay distributions and the per-node random source (spec/autoscaling.md §1).

Owns parsing the four spellings a configuration may use for a delay, in seconds:

* `fixed:S` — always S;
* `uniform:A-B` — uniform on [A, B];
* `lognormal:MEDIAN,SIGMA` — log-normal with the given median (so mu = ln MEDIAN) and shape
  SIGMA, the usual model of cloud launch times (a long right tail);
* `empirical:FILE` — one of the values of FILE (one column of seconds, `#` comments and blank
  lines ignored), each equally likely: a measured distribution replayed as is.

and `node_random`, the one place a node's random source is made: `random.Random` seeded from
(run seed, node name) through SHA-256, so a node's draws do not depend on which other nodes
exist, in what order they were requested, or on Python's salted `hash()`. Reruns with the same
seed replay identically.

Pure computation except `read_empirical`, which reads the file an `empirical:` spelling names
(relative paths resolve against the configuration file's folder). Parsing returns a message
instead of raising, so the configuration reader can report every bad field at once.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Protocol

_STANDARD_NORMAL = NormalDist()


class DelayDistribution(Protocol):
    """A delay in seconds. `sample` draws one value (>= 0) from `rng` and must draw the same
    number of values from `rng` on every call, so later draws of the node do not shift."""

    def sample(self, rng: random.Random) -> float: ...

    def spelling(self) -> str:
        """The configuration spelling this distribution was read from (`fixed:240`)."""
        ...


@dataclass(frozen=True)
class FixedDelay:
    """`fixed:S`: always `seconds`.

    >>> FixedDelay(240.0).sample(random.Random(1))
    240.0
    """

    seconds: float

    def sample(self, rng: random.Random) -> float:
        rng.random()  # one draw, like every distribution, so switching kinds keeps streams aligned
        return self.seconds

    def spelling(self) -> str:
        return f"fixed:{_number(self.seconds)}"


@dataclass(frozen=True)
class UniformDelay:
    """`uniform:A-B`: uniform on [low, high] seconds."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return self.low + (self.high - self.low) * rng.random()

    def spelling(self) -> str:
        return f"uniform:{_number(self.low)}-{_number(self.high)}"


@dataclass(frozen=True)
class LognormalDelay:
    """`lognormal:MEDIAN,SIGMA`: exp(N(ln median, sigma^2)) seconds.

    Drawn by inverting the normal CDF of one uniform draw (`statistics.NormalDist`), not with
    `random.lognormvariate`, whose Box-Muller pair caching would make a draw depend on the
    previous one.
    """

    median: float
    sigma: float

    def sample(self, rng: random.Random) -> float:
        # 1 - random() lies in (0, 1]; clamp away from 1 so inv_cdf stays finite.
        u = min(1.0 - rng.random(), 1.0 - 1e-16)
        return self.median * math.exp(self.sigma * _STANDARD_NORMAL.inv_cdf(u))

    def spelling(self) -> str:
        return f"lognormal:{_number(self.median)},{_number(self.sigma)}"


@dataclass(frozen=True)
class EmpiricalDelay:
    """`empirical:FILE`: one of `values` (seconds), each equally likely. `source` is FILE as
    written, kept for messages and reports."""

    source: str
    values: tuple[float, ...]

    def sample(self, rng: random.Random) -> float:
        return self.values[min(int(rng.random() * len(self.values)), len(self.values) - 1)]

    def spelling(self) -> str:
        return f"empirical:{self.source}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _seconds(text: str) -> float | None:
    """A finite, non-negative number of seconds, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def read_empirical(path: Path) -> tuple[tuple[float, ...], str | None]:
    """The seconds listed in `path`, or a message saying why they cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        return (), f"cannot read {path}: {err.strerror or err}"
    except UnicodeDecodeError:
        return (), f"{path} is not UTF-8 text"
    values: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        cell = line.split("#", 1)[0].strip()
        if not cell:
            continue
        value = _seconds(cell)
        if value is None:
            return (), f"{path}: line {number}: expected seconds >= 0, got {cell!r}"
        values.append(value)
    if not values:
        return (), f"{path} holds no values"
    return tuple(values), None


SPELLINGS = "fixed:S, uniform:A-B, lognormal:MEDIAN,SIGMA or empirical:FILE"


def parse_delay(text: object, base: Path | None = None) -> DelayDistribution | str:
    """The distribution `text` spells, or a message saying what is wrong with it.

    `base` is the folder relative `empirical:` paths resolve against (None: the current one).
    """
    if isinstance(text, bool) or not isinstance(text, str):
        return f"must be a string ({SPELLINGS}), got {text!r}"
    kind, sep, argument = text.partition(":")
    if not sep:
        return f"expected {SPELLINGS}, got {text!r}"
    if kind == "fixed":
        seconds = _seconds(argument)
        if seconds is None:
            return f"fixed: expected seconds >= 0, got {argument!r}"
        return FixedDelay(seconds)
    if kind == "uniform":
        low_text, dash, high_text = argument.partition("-")
        low, high = _seconds(low_text), _seconds(high_text)
        if not dash or low is None or high is None:
            return f"uniform: expected A-B with seconds A <= B, got {argument!r}"
        if low > high:
            return f"uniform: A must be <= B, got {argument!r}"
        return UniformDelay(low, high)
    if kind == "lognormal":
        median_text, comma, sigma_text = argument.partition(",")
        median, sigma = _seconds(median_text), _seconds(sigma_text)
        if not comma or median is None or sigma is None or median == 0:
            return (
                f"lognormal: expected MEDIAN,SIGMA with MEDIAN > 0 and SIGMA >= 0, got {argument!r}"
            )
        return LognormalDelay(median, sigma)
    if kind == "empirical":
        if not argument:
            return "empirical: expected a file name"
        path = Path(argument)
        if not path.is_absolute() and base is not None:
            path = base / path
        values, problem = read_empirical(path)
        if problem is not None:
            return f"empirical: {problem}"
        return EmpiricalDelay(argument, values)
    return f"unknown distribution {kind!r}: expected {SPELLINGS}"


def node_random(run_seed: int, node_name: str) -> random.Random:
    """The random source of one node: the same (seed, name) always gives the same stream.

    >>> node_random(42, "h100-od-0003").random() == node_random(42, "h100-od-0003").random()
    True
    """
    digest = hashlib.sha256(f"{run_seed}/{node_name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))
