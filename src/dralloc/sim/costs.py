"""What capacity costs: every provisioned GPU-hour charged at its model's price, split into the
part used, the part fragmented and the part idle, and the money one policy saves over another.

A cluster pays for its GPUs whether pods use them or not, so a policy's cost is the capacity's,
not the allocated GPU-hours' (charging only those makes every policy that completes the same
work cost the same). The split says where the money went:

* **used**: GPU-hours allocated to pods (fractions of a shared GPU count as fractions);
* **fragmented**: free GPU-hours that the pods this trace typically sends could not use, the
  FGD paper's measure F(M) against the trace's typical pods (spec/fgd.md section 3), summed
  over nodes. It is the free capacity a better placement could have put to work; the choice of
  FGD's measure over "free GPUs on nodes where no pending pod fits" keeps one definition across
  the FGD experiment, the replay and the paper, and does not depend on what happens to be
  pending at a sample;
* **idle**: the rest, free capacity that nothing waiting needed (provisioned - used -
  fragmented).

`USD per completed GPU-hour` divides the capacity's cost by the GPU-hours of the pods that ran
to completion: the price of a unit of finished work. The **saving** of policy A over B is what
B would charge for A's completed work at B's rate: (B's rate - A's rate) x A's completed
GPU-hours. When both complete the same work in the same window it is the difference of their
capacity costs; when a horizon cuts the runs, it credits the policy that finished more work at
the same cost.

In the FGD experiment (arrival only, no time) the figure is a rate: the GPUs left unallocated
when the arrived requests equal the cluster's capacity, each at its model's hourly price, is
what the stranded capacity costs per hour (`stranded_cost_per_hour`).

Pure values and functions; prices come from `sim.prices`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dralloc.sim.prices import price_of

__all__ = [
    "HOURS_PER_MONTH",
    "CapacityCost",
    "CapacityHours",
    "capacity_cost",
    "saving",
    "stranded_cost_per_hour",
]

HOURS_PER_MONTH = 730.0  # 365 x 24 / 12: how clouds turn an hourly price into a monthly one


@dataclass(frozen=True)
class CapacityHours:
    """One GPU model's GPU-hours over a run: `provisioned` = `used` + `fragmented` + `idle`."""

    provisioned: float
    used: float
    fragmented: float

    @property
    def idle(self) -> float:
        # Clamped: the integrals are floats and F(M) never exceeds the free capacity.
        return max(0.0, self.provisioned - self.used - self.fragmented)


@dataclass(frozen=True)
class CapacityCost:
    """A run's capacity in USD, split, and the GPU-hours of work it completed.

    CapacityCost(used=60.0, fragmented=10.0, idle=30.0, completed_gpu_hours=25.0)
    .provisioned == 100.0, .per_completed_gpu_hour == 4.0
    """

    used: float
    fragmented: float
    idle: float
    completed_gpu_hours: float

    @property
    def provisioned(self) -> float:
        return self.used + self.fragmented + self.idle

    @property
    def per_completed_gpu_hour(self) -> float | None:
        """USD per GPU-hour of completed work; None when nothing completed."""
        if self.completed_gpu_hours <= 0:
            return None
        return self.provisioned / self.completed_gpu_hours


def capacity_cost(
    hours: Mapping[str, CapacityHours],
    catalog: Mapping[str, str],
    prices: Mapping[str, float],
    completed_gpu_hours: float,
) -> CapacityCost:
    """The USD of `hours` (per GPU model code) at `prices` (looked up as `prices.price_of`
    does). KeyError for a model without a price (check with `prices.missing_prices` first)."""
    used = fragmented = idle = 0.0
    for code, split in hours.items():
        price = price_of(code, catalog, prices)
        if price is None:
            raise KeyError(f"no price for GPU model {code!r}")
        used += split.used * price
        fragmented += split.fragmented * price
        idle += split.idle * price
    return CapacityCost(used, fragmented, idle, completed_gpu_hours)


def saving(best: CapacityCost, other: CapacityCost) -> float | None:
    """USD that `best` saves over `other` for `best`'s completed work (the module docstring);
    None when either completed nothing."""
    mine, theirs = best.per_completed_gpu_hour, other.per_completed_gpu_hour
    if mine is None or theirs is None:
        return None
    return (theirs - mine) * best.completed_gpu_hours


def stranded_cost_per_hour(
    unallocated_gpus: Mapping[str, float], catalog: Mapping[str, str], prices: Mapping[str, float]
) -> float:
    """USD per hour of the GPUs left unallocated (GPUs per model code) at `prices`. KeyError
    for a model without a price."""
    total = 0.0
    for code, gpus in unallocated_gpus.items():
        price = price_of(code, catalog, prices)
        if price is None:
            raise KeyError(f"no price for GPU model {code!r}")
        total += gpus * price
    return total
