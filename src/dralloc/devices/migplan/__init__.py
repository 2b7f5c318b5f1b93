"""MIG layout planning: how many GPUs a list of MIG instances needs, with which placements,
and how to turn one GPU's current layout into a wanted one while destroying the fewest
running instances.

Pure computation over catalog data: no I/O, no clock, no module-level state. Everything a
call builds (the geometry index, the list of feasible GPU layouts, memo tables) belongs to
that call and is dropped when it returns, so results depend only on the arguments.

Design
------
*What one GPU can hold.* The hardware rules are those of `dralloc.devices.mig` (listed
starts, disjoint memory slices, compute slices <= 7, per-profile and total instance limits, at
most one `+me`). All but the first two only count instances, so feasibility of a multiset of
profiles splits into a counting check and a search for disjoint windows on the 8-slice memory
axis. `_Geometry.place` does that search the way `mig.pack` does (larger windows first, each
at its lowest free legal start, identical instances in increasing start order, backtracking),
on bit masks and with the counting rules checked once, because planning runs it hundreds of
times per request. Every placement this package returns passes `mig.fits_together`, and the
tests check that both searches agree on what fits.

*How many GPUs (`plan_gpus`).* Bin packing where a bin is "fits on one GPU": a cutting-stock
problem with at most 7 item kinds. Feasibility is downward closed (removing an instance from a
valid layout leaves a valid layout), so:

1. enumerate every feasible *configuration* -- a vector of per-profile counts no larger than
   the demand -- once per call (at most 128 on a 7-slice GPU);
2. lower bound: for weights w >= 0, ceil(w . demand / max over configurations of w . c). The
   weights are each profile alone, memory slices, compute slices, instance count, and the
   optimal dual of the linear relaxation (Gilmore-Gomory: fractional GPUs per configuration,
   solved by a small simplex), whose bound is the relaxation's value rounded up; profiles that
   never share a GPU (7g) count one GPU each. Measured on thousands of random requests of up to
   1000 instances, this bound always equalled the optimum;
3. upper bound: the better of a greedy plan and the relaxation's plan rounded down and
   completed by the search below (the remainder is a handful of instances);
4. branch and bound over GPUs when the bounds differ: the next GPU must hold the largest
   remaining instance (some GPU does) and may be taken *maximal* for the remaining demand
   (moving an instance that still fits into it never adds a GPU); prune by the lower bound
   and a transposition table (a remaining demand already reached with no more GPUs).

The answer is exact whenever `is_minimal`. The search is bounded by `max_nodes` expanded states
(a count, not a time, so results never depend on the machine); requests of up to ~60 instances
need at most a few, and if the budget ever runs out the best plan found is returned with
`is_minimal=False` beside the proven `lower_bound`.

*Reconfiguring one GPU (`plan_reconfiguration`).* Exhaustive over the subsets of current
instances to keep (a GPU holds at most 7, so at most 128 subsets): a subset is usable when its
profiles are part of the target and the rest of the target can be placed beside it. The plan
keeps the most instances (so destroys and creates the fewest), then destroys the fewest memory
slices, then keeps the instances at the lowest starts. Destroying everything first and then
creating the new instances in any order is always safe, because kept + created fit together.

Layout
------
`parsing` reads requests and layouts as users write them (its docstring gives the syntax) and
checks layouts; `plans` holds the results and the two planning calls; `_search` is internal
(the geometry, the branch and bound, the simplex). Import from `dralloc.devices.migplan`.
"""

from __future__ import annotations

from dralloc.devices.migplan.parsing import (
    MAX_INSTANCES,
    check_layout,
    parse_layout,
    parse_profiles,
)
from dralloc.devices.migplan.plans import (
    DEFAULT_MAX_NODES,
    GpuPlan,
    Reconfiguration,
    plan_gpus,
    plan_reconfiguration,
)

__all__ = [
    "DEFAULT_MAX_NODES",
    "MAX_INSTANCES",
    "GpuPlan",
    "Reconfiguration",
    "check_layout",
    "parse_layout",
    "parse_profiles",
    "plan_gpus",
    "plan_reconfiguration",
]
