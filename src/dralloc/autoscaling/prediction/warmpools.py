"""Warm pools (spec/autoscaling.md §9.4, dralloc's own, after EC2 Auto Scaling's warm pools):
nodes of a shape launched ahead of need and kept `running` or `stopped`, so a scale-up that
takes one skips part of the life cycle of §1. Pure computation: the replay owns the pool's
nodes and asks this module what taking one costs and how long it takes.

* `running`: the node is up with its devices published; taken, it is usable at once. It is
  billed the shape's full price all the time it waits.
* `stopped`: the node was launched and registered, then stopped; taken, it skips `launch` and
  `register` and still goes through `ready` and `devices`. While stopped it is billed
  `stoppedPrice`, by default 2 % of the price (storage and a reserved address, as on EC2).

A pool keeps `minSize` warm nodes: each one taken is replaced by a fresh launch into the pool.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from dralloc.autoscaling.config import Provisioning

STOPPED_PRICE_FRACTION = 0.02


class WarmState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WarmPool:
    """`warmPool: {shape, minSize, state, stoppedPrice}`; `stopped_price` None: 2 % of the
    shape's price per node-hour."""

    shape: str
    min_size: int
    state: WarmState = WarmState.STOPPED
    stopped_price: float | None = None

    def __post_init__(self) -> None:
        if self.min_size < 0:
            raise ValueError(f"warm pool {self.shape}: minSize must be >= 0, got {self.min_size}")

    def waiting_price(self, price: float) -> float:
        """Per node-hour while a node waits in the pool.

        >>> WarmPool("h100", 2).waiting_price(100.0)
        2.0
        >>> WarmPool("h100", 2, WarmState.RUNNING).waiting_price(100.0)
        100.0
        """
        if self.state is WarmState.RUNNING:
            return price
        if self.stopped_price is not None:
            return self.stopped_price
        return STOPPED_PRICE_FRACTION * price

    def skipped_phases(self) -> tuple[str, ...]:
        """The §1 delays a node taken from the pool does not go through."""
        if self.state is WarmState.RUNNING:
            return ("launch", "register", "ready", "devices")
        return ("launch", "register")

    def start_delay(self, provisioning: Provisioning, rng: random.Random) -> float:
        """Seconds from taking a warm node to its devices published: 0 when running, the
        `ready` and `devices` delays when stopped. Draws one value per phase of §1 in order
        whatever the state, so a node's later draws do not depend on the pool's state."""
        skipped = self.skipped_phases()
        total = 0.0
        for phase in ("launch", "register", "ready", "devices"):
            seconds = getattr(provisioning, phase).sample(rng)
            if phase not in skipped:
                total += seconds
        return total


def refills(pool: WarmPool, waiting: int, launching: int) -> int:
    """Nodes to launch into the pool now so `waiting` plus `launching` reaches minSize.

    >>> refills(WarmPool("h100", 3), waiting=1, launching=1)
    1
    """
    return max(0, pool.min_size - waiting - launching)
