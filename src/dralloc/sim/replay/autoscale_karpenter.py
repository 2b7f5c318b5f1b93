"""karpenter mode on the replay's clock: when `Karpenter.run_once` runs, and what its results
do to the fleet (spec/autoscaling.md §5, §6).

Owns the run's `Karpenter` and the loop's own bookkeeping (the last result, the offerings'
cool-offs, the interrupted nodes, the counts); the `FleetDriver` (`replay.autoscaled`) owns
the fleet's nodes in the cluster and the engine owns the clock, so this module only decides
when to run and pushes ticks through the driver:

- **When.** A loop runs at every instant something changed (a pod arrived or ended, a node
  changed phase: upstream's provisioner reacts to pod and node events), at the close of an
  open batch window (the last new pod + `batchIdleDuration`, or the window's start +
  `batchMaxDuration`: a window closes only on a call, so the replay calls then), and on a
  10 s grid (the disruption controller's poll) while the fleet has a node or a pod is
  pending. `Karpenter.run_once` runs disruption itself when 10 s passed since its last one.
- **Quiet loops.** With `remember_quiet_loops` a tick is skipped when nothing changed since a
  loop that decided nothing, left no window open, and no timer fell due in between (a node
  becoming consolidatable, expiring, missing its registration deadline or getting a spot
  notice, a failed offering coming back, a pending disruption command's validation or queue
  timeout; a budget with a cron schedule makes every tick count). A skipped tick that would
  have run disruption moves `Karpenter.last_disruption` as the quiet loop would have, so
  later loops disrupt at the same instants as the plain path (which runs every tick;
  `tests/sim/test_autoscale_replay_karpenter.py` checks both agree).
- **Results.** Launches (and disruption commands' replacements) are new fleet nodes whose
  phases the driver pushes on the heap, as cluster-autoscaler's; disrupted, expired,
  timed-out, failed and interrupted nodes are deleted by `Karpenter` itself (a spot notice
  deletes its node at once and provisions for its pods in the same loop), and the driver
  drains them at `Deleting` (pods evicted and re-queued). A consolidation's nodes are deleted
  only once its replacement is initialized (`autoscaling/orchestration.py`); meanwhile
  Karpenter taints them (`Karpenter.marked_for_deletion`), and the loop cordons them in the
  cluster (`fleet_node_cordoned`), uncordoning a node whose command was dropped. Every
  autoscaled replay's profile filters cordoned nodes first (`NodeUnschedulable`,
  `build_simulation(node_unschedulable=True)`, the cordon in its alike-node key), so no new
  pod lands there; an uncordon requeues the pods it rejected. Each eviction
  names its cause (`karpenter_cause` of the command's method, a spot notice, a registration
  timeout).
- **The end.** With nothing left of the trace, the run goes on while the last loop decided
  something, a window is open or a timer that may change the fleet is still to come (not
  expiry: a node that never empties would be replaced forever).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dralloc.autoscaling.karpenter import (
    DISRUPTION_INTERVAL,
    REGISTRATION_TTL,
    UNAVAILABLE_SECONDS,
    Karpenter,
    KarpenterResult,
)
from dralloc.autoscaling.virtualpods import VirtualPod
from dralloc.sim.replay.evictions import EvictionCause, karpenter_cause

if TYPE_CHECKING:
    from dralloc.sim.replay.autoscaled import FleetDriver

__all__ = ["KarpenterCounts", "KarpenterLoop"]


@dataclass
class KarpenterCounts:
    """What karpenter mode did over a run: NodeClaims launched (replacements included),
    nodes disrupted per method, launches that failed or timed out, spot interruptions."""

    launches: int = 0
    disrupted: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    interruptions: int = 0


class KarpenterLoop:
    """The loop of one run in karpenter mode (see the module docstring)."""

    def __init__(self, driver: FleetDriver, karpenter: Karpenter) -> None:
        self.driver = driver
        self.karpenter = karpenter
        self.last: KarpenterResult | None = None
        self.counts = KarpenterCounts()
        self.available_again: list[float] = []  # failed offerings' cool-offs ending
        self.cordoned: set[str] = set()  # marked for deletion: no destination for new pods
        # Disruption's view: whether the cluster changed since the last loop that ran it,
        # and when that loop was (a loop between two polls sees changes disruption has not).
        self.disruption_stale = True
        self.disruption_seen_at: float | None = None
        self.cron_budgets = any(
            budget.schedule is not None
            for pool in karpenter.config.node_pools
            for budget in pool.disruption.budgets
        )

    # --------------------------------------------------------------------------- ticks

    def after_batch(self, now: float) -> None:
        """Something changed at `now`: a loop at once."""
        if self.driver.changed:
            self.driver.engine.push_tick(now)

    def tick(self, now: float, buffer_pods: tuple[VirtualPod, ...] = ()) -> KarpenterResult | None:
        """One `run_once` unless the tick is quiet; the result, None when skipped."""
        driver = self.driver
        karpenter = self.karpenter
        if driver.changed:
            self.disruption_stale = True
        if driver.remember and not driver.changed and self._quiet(now):
            driver.skipped += 1
            if karpenter.last_disruption is None or (
                now >= karpenter.last_disruption + DISRUPTION_INTERVAL
            ):
                karpenter.last_disruption = now
            self._push_next(now)
            return None
        result = karpenter.run_once(
            now, driver.cluster_state(), driver.engine.unschedulable(), buffer_pods=buffer_pods
        )
        driver.loops += 1
        driver.changed = False
        self.last = result
        if karpenter.last_disruption == now:
            self.disruption_stale = False
            self.disruption_seen_at = now
        counts = self.counts
        counts.launches += len(result.launches) + len(result.replacements)
        counts.interruptions += len(result.interrupted)
        for command in result.disruptions:
            counts.disrupted[command.method] += len(command.nodes)
            driver.delete_for(command.nodes, karpenter_cause(command.method))
        driver.delete_for(result.interrupted, EvictionCause.SPOT_INTERRUPTION)
        driver.delete_for(result.registration_timeouts, EvictionCause.STARTUP_TIMEOUT)
        self._cordon()
        failures = len(result.failed_launches) + len(result.registration_timeouts)
        counts.failures += failures
        driver.failed_in_a_row += failures
        self.available_again.extend(now + UNAVAILABLE_SECONDS for _ in result.failed_launches)
        driver.push_new(now)
        self._push_next(now)
        return result

    def _cordon(self) -> None:
        """Nodes marked for deletion (waiting for their replacement) are cordoned, and
        uncordoned when their command is dropped; a node being deleted stays cordoned."""
        marked = self.karpenter.marked_for_deletion()
        engine = self.driver.engine
        for name in sorted(marked - self.cordoned):
            engine.fleet_node_cordoned(name, True)
        for name in sorted(self.cordoned - marked):
            node = self.driver.by_name.get(name)
            if node is not None and node.lifecycle.deleting_at is None:
                engine.fleet_node_cordoned(name, False)
        self.cordoned = marked

    def _push_next(self, now: float) -> None:
        engine = self.driver.engine
        karpenter = self.karpenter
        if karpenter.batch_opened_at is not None and karpenter.batch_last_pod_at is not None:
            options = karpenter.config.options
            engine.push_tick(
                min(
                    karpenter.batch_last_pod_at + options.batch_idle_duration,
                    karpenter.batch_opened_at + options.batch_max_duration,
                )
            )
        if self._polling(now):
            grid = DISRUPTION_INTERVAL
            engine.push_tick((math.floor(now / grid + 1e-9) + 1) * grid)
        for timer in karpenter.command_timers():
            if timer > now:
                engine.push_tick(timer)

    def _polling(self, now: float) -> bool:
        """The 10 s grid runs while a fleet node is not gone or a pod waits."""
        if any(
            n.lifecycle.gone_at is None or n.lifecycle.gone_at > now
            for n in self.driver.fleet.nodes()
        ):
            return True
        return bool(self.driver.engine.unschedulable())

    # --------------------------------------------------------------------------- timers

    def _timers(self, now: float, *, expiry: bool) -> list[float]:
        """When a loop may decide something new with nothing else changing (module doc), on
        nodes live at `now` (a capacity block's node has its deletion scheduled from the
        start)."""
        karpenter = self.karpenter
        times = [*self.available_again, *karpenter.command_timers()]
        pools = {pool.name: pool for pool in karpenter.config.node_pools}
        for node in self.driver.fleet.nodes():
            life = node.lifecycle
            gone = life.gone_at is not None and life.gone_at <= now
            if life.launch_failed or life.is_deleting(now) or gone:
                continue
            deadline = life.startup_deadline(REGISTRATION_TTL, REGISTRATION_TTL)
            if deadline is not None:
                times.append(deadline[0])
            if life.interruption_notice_at is not None and node.name not in karpenter.interrupted:
                times.append(life.interruption_notice_at)
            pool = pools.get(node.group)
            if pool is None:
                continue
            after = pool.disruption.consolidate_after
            since = karpenter.last_pod_event.get(node.name)
            if after is not None and since is not None:
                times.append(since + after)
            if expiry and pool.expire_after is not None:
                times.append(life.requested_at + pool.expire_after)
        return times

    def _decided(self, result: KarpenterResult) -> bool:
        return bool(
            result.launches
            or result.disruptions
            or result.failed_launches
            or result.registration_timeouts
            or result.batch_open
            or result.replacements
            or result.abandoned
            or result.interrupted
        )

    def _quiet(self, now: float) -> bool:
        """Nothing changed since the last loop, which decided nothing; and if this tick
        would run disruption, nothing changed since disruption last ran either, and no timer
        fell due since then."""
        last = self.last
        if last is None or self._decided(last) or self.cron_budgets:
            return False
        since = last.time
        previous = self.karpenter.last_disruption
        if previous is None or now >= previous + DISRUPTION_INTERVAL:
            if self.disruption_stale or self.disruption_seen_at is None:
                return False
            since = min(since, self.disruption_seen_at)
        return not any(since < t <= now for t in self._timers(now, expiry=True))

    def may_act(self, now: float) -> bool:
        """Whether the fleet may still change with no other event (the run goes on)."""
        last = self.last
        if last is None or self.driver.changed or self._decided(last):
            return True
        if self.disruption_stale:
            return True  # the next poll sees a cluster disruption has not judged yet
        return any(t > now for t in self._timers(now, expiry=False))
