"""Karpenter's disruption commands carried out on the virtual clock: the validation wait, then
the orchestration queue (spec/autoscaling.md §5.2).

Owns nothing: the commands live in `Karpenter.commands` and only `orchestrate` (called by
`Karpenter.run_once` on every loop) moves them on; it deletes nodes through
`NodeLifecycle.delete` and launches replacements through `Karpenter.launch_offering`. Behaviour
read in kubernetes-sigs/karpenter `pkg/controllers/disruption/` (validation.go, emptiness.go,
controller.go's executeCommand, orchestration/queue.go):

* **Validation.** A command waits `VALIDATION_SECONDS` (15 s, upstream's consolidationTTL) and
  is checked again: every node must still be a candidate (not leaving, consolidatable, not
  blocked by do-not-disrupt), empty still for Emptiness, and within its pool's budget; a
  consolidation's what-if is run again and must give the same answer (no new NodeClaim when
  none was planned; one whose shapes include every shape the command may launch when one
  was). Otherwise the command is dropped (`KarpenterResult.abandoned`). Drift is not
  validated.
* **The queue.** A valid command taints its nodes (`Karpenter.marked_for_deletion`: no
  destination for provisioning or for another command's what-if, and counted as disrupting
  by the budgets) and launches its replacement, the cheapest offering of its shapes still
  cheaper than the nodes; then it waits until the replacement is initialized (a node with its
  DRA pools published, `view_of`'s ready), and only then deletes its nodes. A command without
  a replacement deletes them at once. A command whose replacement cannot be launched, whose
  launch fails, whose NodeClaim is deleted before it initializes (registration timeout) or
  that waited `QUEUE_TIMEOUT` (10 min, upstream's maxRetryDuration) is abandoned: its nodes
  are untainted and may be chosen again.

Simplification, stated: upstream's queue polls with a backoff of 1 to 10 s; here a command
moves at the first loop after its replacement is initialized (the replay runs one then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dralloc.autoscaling.clusterautoscaler import FleetView
from dralloc.autoscaling.config import DisruptionReason
from dralloc.autoscaling.disruption import (
    CommandPhase,
    DisruptionCommand,
    Round,
    allowed,
    is_candidate,
    movable,
    pods_by_node,
    simulate,
)
from dralloc.autoscaling.fleet import FleetNode
from dralloc.autoscaling.planning import ClusterState

if TYPE_CHECKING:
    from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult

QUEUE_TIMEOUT = 600.0  # a command whose replacement is not initialized by then is abandoned


def orchestrate(
    k: Karpenter, now: float, state: ClusterState, view: FleetView, result: KarpenterResult
) -> None:
    """Move every pending command on as far as it goes at `now` (see the module docstring):
    validate those due, launch their replacements, carry out those whose replacement is
    initialized, drop the others."""
    round_ = Round(k, now, state, view, pods_by_node(state))
    ready = {n.name for n in view.ready}
    for command in list(k.commands):
        if command.phase is CommandPhase.VALIDATING:
            if now < command.validate_at:
                continue
            if command.validate and not _is_valid(round_, command):
                _abandon(k, command, now, result)
                continue
            _queue(k, command, now, result)
        if command.phase is CommandPhase.WAITING:
            _wait(k, command, now, ready, result)


def _nodes(k: Karpenter, names: tuple[str, ...]) -> list[FleetNode] | None:
    by_name = {n.name: n for n in k.fleet.nodes()}
    nodes = [by_name.get(name) for name in names]
    return None if any(n is None for n in nodes) else [n for n in nodes if n is not None]


def _is_valid(r: Round, command: DisruptionCommand) -> bool:
    """Upstream's validation (see the module docstring)."""
    k, now = r.k, r.now
    nodes = _nodes(k, command.nodes)
    ready = {n.name for n in r.view.ready}
    if nodes is None or any(
        n.name not in ready or not is_candidate(k, n, r.pods_on, r.state, now) for n in nodes
    ):
        return False
    room: dict[str, int] = {}
    for node in nodes:
        pool = k.pool(node.group)
        if pool.name not in room:
            room[pool.name] = allowed(k, pool, command.reason, now)
        if room[pool.name] <= 0:
            return False
        room[pool.name] -= 1
    if command.reason is DisruptionReason.EMPTY:
        return not any(movable(r.pods_on.get(n.name, [])) for n in nodes)
    simulated = simulate(r, nodes)
    if simulated is None:
        return False
    fits, shapes, _ = simulated
    if fits or not command.shapes:
        return fits and not command.shapes
    return set(command.shapes) <= set(shapes)


def _queue(k: Karpenter, command: DisruptionCommand, now: float, result: KarpenterResult) -> None:
    """Taint the command's nodes and launch its replacement (see the module docstring)."""
    command.phase = CommandPhase.WAITING
    command.queued_at = now
    if not command.shapes:
        return
    pool = k.pool(command.pool)
    offerings = [o for o in k.offerings(pool, now, command.shapes) if o.price < command.price]
    offering = k.cheapest(offerings, pool)
    if offering is None:
        _abandon(k, command, now, result)
        return
    command.replacement = k.launch_offering(now, pool, offering, command.pods, command.shapes)
    result.replacements.append(command.replacement)


def _wait(
    k: Karpenter,
    command: DisruptionCommand,
    now: float,
    ready: set[str],
    result: KarpenterResult,
) -> None:
    launch = command.replacement
    if launch is not None and launch.node not in ready:
        life = next(n.lifecycle for n in k.fleet.nodes() if n.name == launch.node)
        assert command.queued_at is not None
        # A failed launch shows when its launch would have ended (`Karpenter` deletes the
        # NodeClaim then), as upstream's NodeClaim disappears after the provider's error.
        if (
            life.is_deleting(now)
            or (life.gone_at is not None and life.gone_at <= now)
            or now >= command.queued_at + QUEUE_TIMEOUT
        ):
            _abandon(k, command, now, result)
        return
    for node in _nodes(k, command.nodes) or []:
        if not node.lifecycle.is_leaving(now):
            node.lifecycle.delete(now)
    k.commands.remove(command)
    result.disruptions.append(command.record(now))


def _abandon(k: Karpenter, command: DisruptionCommand, now: float, result: KarpenterResult) -> None:
    k.commands.remove(command)
    result.abandoned.append(command.record(now))
