"""The cluster-autoscaler status summary: what its status ConfigMap would say (spec §4).

Owns turning the autoscaler's state after a loop into the content of CA's
`kube-system/cluster-autoscaler-status` ConfigMap in 1.36's YAML form
(`clusterstate/api/types.go`: `autoscalerStatus`, `clusterWide` and `nodeGroups`, each
with `health`, `scaleUp` and `scaleDown`; statuses `Healthy`, `InProgress`, `NoActivity`,
`Backoff`, `CandidatesPresent`, `NoCandidates`). Times are virtual seconds, not RFC 3339
stamps. Pure reading; no I/O.

Simplifications, stated: health is `Healthy` unless every registered node of the group (or
cluster) is unready; `notStarted` counts upcoming nodes that have registered;
`cloudProviderTarget` is the group's target size (ready + upcoming).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler


def _counts(
    ready: int, upcoming_registered: int, deleting: int, unregistered: int
) -> dict[str, object]:
    return {
        "registered": {
            "total": ready + upcoming_registered + deleting,
            "ready": ready,
            "notStarted": upcoming_registered,
            "beingDeleted": deleting,
            "unready": {"total": 0, "resourceUnready": upcoming_registered},
        },
        "longUnregistered": 0,
        "unregistered": unregistered,
    }


def status_of(ca: ClusterAutoscaler, now: float) -> dict[str, object]:
    """The status ConfigMap's `status` document after the last loop (see module doc)."""
    # "Registered" and "ready" are read from the life cycles (§1's phases).
    groups: list[dict[str, object]] = []
    total_ready = total_registered_upcoming = total_deleting = total_unregistered = 0
    candidates_total = 0
    in_progress_any = False
    backoff_any = False
    for group in ca.config.node_groups:
        nodes = ca.fleet.nodes(group.name)
        live = [
            n
            for n in nodes
            if n.lifecycle.requested_at <= now
            and not n.lifecycle.launch_failed
            and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > now)
        ]
        deleting = [n for n in live if n.lifecycle.is_leaving(now)]
        active = [n for n in live if not n.lifecycle.is_leaving(now)]
        ready = [n for n in active if n.lifecycle.devices_published_at <= now]
        registered_upcoming = [
            n for n in active if n.lifecycle.registered_at <= now < n.lifecycle.devices_published_at
        ]
        unregistered = [n for n in active if n.lifecycle.registered_at > now]
        in_progress = bool(registered_upcoming or unregistered)
        backed_off = ca.backoff.is_backed_off(group.name, now)
        candidates = ca.scale_down_state.candidates.get(group.name, [])
        scale_up: dict[str, object] = {
            "status": "InProgress" if in_progress else "Backoff" if backed_off else "NoActivity",
            "lastProbeTime": ca.last_run,
        }
        if backed_off:
            scale_up["backoffInfo"] = {
                "errorCode": "failedScaleUp",
                "until": ca.backoff.until(group.name),
            }
        groups.append(
            {
                "name": group.name,
                "health": {
                    "status": "Healthy",
                    "nodeCounts": _counts(
                        len(ready), len(registered_upcoming), len(deleting), len(unregistered)
                    ),
                    "cloudProviderTarget": len(active),
                    "minSize": group.min_size,
                    "maxSize": group.max_size,
                },
                "scaleUp": scale_up,
                "scaleDown": {
                    "status": "CandidatesPresent" if candidates else "NoCandidates",
                    "candidates": len(candidates),
                    "lastProbeTime": ca.last_run,
                },
            }
        )
        total_ready += len(ready)
        total_registered_upcoming += len(registered_upcoming)
        total_deleting += len(deleting)
        total_unregistered += len(unregistered)
        candidates_total += len(candidates)
        in_progress_any = in_progress_any or in_progress
        backoff_any = backoff_any or backed_off
    cluster_scale_up = (
        "InProgress" if in_progress_any else "Backoff" if backoff_any else "NoActivity"
    )
    return {
        "time": now,
        "autoscalerStatus": "Running",
        "clusterWide": {
            "health": {
                "status": "Healthy",
                "nodeCounts": _counts(
                    total_ready, total_registered_upcoming, total_deleting, total_unregistered
                ),
            },
            "scaleUp": {"status": cluster_scale_up, "lastProbeTime": ca.last_run},
            "scaleDown": {
                "status": "CandidatesPresent" if candidates_total else "NoCandidates",
                "candidates": candidates_total,
                "lastProbeTime": ca.last_run,
            },
        },
        "nodeGroups": groups,
    }
