"""Choosing among scale-up options: cluster-autoscaler's expanders (spec/autoscaling.md §4.2).

Owns the expander strategies and their chain; pure functions of the options and a seeded
`random.Random` the autoscaler passes in. An `Option` is one node group's answer to the
pending pods (how many new nodes, which pods they hold, and what those nodes would waste).
As upstream (`expander/factory/chain.go`), each named expander keeps its best options, the
next one chooses among those, and a seeded random choice settles what is still tied; a
chain of one is the expander followed by `random`.

* `least-waste` (default): least wasted CPU fraction + wasted memory fraction of the added
  nodes' capacity (upstream `expander/waste`); dralloc adds the wasted fraction of the added
  nodes' accelerators when the group's nodes have any, so a 4-GPU pod prefers a 4-GPU node
  to an 8-GPU one.
* `device-waste` (dralloc): the wasted accelerator fraction alone.
* `most-pods`: the options that help the most pods.
* `least-nodes`: the options that add the fewest nodes.
* `price`: the cheapest added nodes per hour. Upstream's `price` expander scores
  (node price + stabilization) / (pod price + stabilization) times a node "unfitness";
  for node groups with GPUs the unfitness is one constant (1000), so among GPU groups it
  ranks by the price of the added nodes against what the pods are worth. With no pod
  pricing model here, the pods' worth is the same for every option that helps the same
  pods; options helping different pods are ranked by price per pod helped.
* `priority`: the options whose group name matches a regular expression of the highest
  priority in `expanderPriorities` (the `cluster-autoscaler-priority-expander` ConfigMap's
  `priorities`, read with Go's `MatchString`, so a pattern matches anywhere unless anchored);
  no option matching any pattern leaves all of them.
* `random`: one at random (seeded).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dralloc.api.core import Pod
from dralloc.autoscaling.config import CapacityType, NodeGroup


@dataclass(frozen=True)
class Option:
    """One node group's scale-up option: `node_count` new nodes holding `pods`; the
    fractions of the added nodes' CPU, memory and accelerators the pods would not use."""

    group: NodeGroup
    node_count: int
    pods: tuple[Pod, ...]
    price_per_node_hour: float
    wasted_cpu: float
    wasted_memory: float
    wasted_accelerators: float | None  # None: the group's nodes have no accelerators

    @property
    def capacity_type(self) -> CapacityType:
        return self.group.capacity_type

    @property
    def waste(self) -> float:
        extra = self.wasted_accelerators if self.wasted_accelerators is not None else 0.0
        return self.wasted_cpu + self.wasted_memory + extra


Filter = Callable[[Sequence[Option]], list[Option]]


def _keep_min(options: Sequence[Option], key: Callable[[Option], float]) -> list[Option]:
    best = min(key(o) for o in options)
    return [o for o in options if key(o) == best]


def least_waste(options: Sequence[Option]) -> list[Option]:
    return _keep_min(options, lambda o: round(o.waste, 12))


def device_waste(options: Sequence[Option]) -> list[Option]:
    return _keep_min(
        options,
        lambda o: round(o.wasted_accelerators, 12) if o.wasted_accelerators is not None else 1.0,
    )


def most_pods(options: Sequence[Option]) -> list[Option]:
    return _keep_min(options, lambda o: -len(o.pods))


def least_nodes(options: Sequence[Option]) -> list[Option]:
    return _keep_min(options, lambda o: o.node_count)


def price(options: Sequence[Option]) -> list[Option]:
    return _keep_min(
        options,
        lambda o: round(o.price_per_node_hour * o.node_count / max(len(o.pods), 1), 9),
    )


def priority_filter(priorities: Mapping[int, tuple[str, ...]]) -> Filter:
    compiled = {p: [re.compile(pattern) for pattern in ps] for p, ps in priorities.items()}

    def best(options: Sequence[Option]) -> list[Option]:
        scored: list[tuple[int, Option]] = []
        for option in options:
            matching = [
                p
                for p, patterns in compiled.items()
                if any(r.search(option.group.name) for r in patterns)
            ]
            if matching:
                scored.append((max(matching), option))
        if not scored:
            return list(options)
        top = max(p for p, _ in scored)
        return [o for p, o in scored if p == top]

    return best


def build_chain(
    names: Sequence[str], priorities: Mapping[int, tuple[str, ...]]
) -> list[tuple[str, Filter]]:
    """The filters of an `expander` chain (names checked by the config reader)."""
    known: dict[str, Filter] = {
        "least-waste": least_waste,
        "device-waste": device_waste,
        "most-pods": most_pods,
        "least-nodes": least_nodes,
        "price": price,
        "random": list,  # the final random choice does the work
    }
    chain: list[tuple[str, Filter]] = []
    for name in names:
        if name == "priority":
            chain.append((name, priority_filter(priorities)))
        else:
            chain.append((name, known[name]))
    return chain


def choose(
    options: Sequence[Option], chain: Sequence[tuple[str, Filter]], rng: random.Random
) -> Option | None:
    """The option the chain picks; ties broken by `rng` (options in node-group order)."""
    left = list(options)
    for _, keep in chain:
        if len(left) <= 1:
            break
        left = keep(left)
    if not left:
        return None
    if len(left) == 1:
        return left[0]
    return left[rng.randrange(len(left))]
