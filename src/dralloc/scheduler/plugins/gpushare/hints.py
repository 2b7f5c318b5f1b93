"""GpuCapacityFilter's cluster events and queueing hints (spec/scheduler.md section 1.8): what
may give a node the free GPUs a rejected pod needs.

- a pod that ran somewhere leaving (upstream's AssignedPodDelete): its GPU share is free;
- a node added whose GPUs pass the filter (the node's Filter answer on the added node);
- a ResourceSlice added or changed that publishes GPUs the filter counts (`slice_gpus`). A
  node's GPUs come from its slices, and a node usually registers before its driver publishes
  them (an autoscaled node is Ready, then its devices appear): without this registration a pod
  the filter rejected would wait for an unrelated event to see them.

The slice hint reads the slice only, never the cache: a live scheduler hands the cache its
slices once per cycle (`kube.mirror`), after the queue has judged the event. So it cannot tell
whether the node now has `num_gpu` free GPUs (other slices of the node count too) and says
QUEUE for any slice that brings GPUs; a pod that still does not fit is rejected again by its
next cycle. It is still narrower than DynamicResources' registration (upstream queues every
pod on every ResourceSlice add or update).

Pure functions of their arguments.
"""

from __future__ import annotations

from dralloc.api.resource import ResourceSlice
from dralloc.scheduler.framework import (
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
)
from dralloc.scheduler.framework.events import RESOURCE_SLICE
from dralloc.scheduler.plugins.gpushare.view import slice_gpus


def is_schedulable_after_slice_change(
    pod: PodInfo, old: object | None, new: object | None
) -> QueueingHint:
    """For ResourceSlice Add|Update: QUEUE when the slice now publishes GPUs the filter
    counts, and (an update) not the same GPUs as before; QUEUE_SKIP otherwise (another
    driver's slice, a slice of no node, a change that leaves its GPUs as they were)."""
    if not isinstance(new, ResourceSlice):
        return QueueingHint.QUEUE_SKIP
    gpus = slice_gpus(new)
    if not gpus:
        return QueueingHint.QUEUE_SKIP
    if isinstance(old, ResourceSlice) and slice_gpus(old) == gpus:
        return QueueingHint.QUEUE_SKIP
    return QueueingHint.QUEUE


SLICE_EVENTS = ClusterEventWithHint(
    ClusterEvent(RESOURCE_SLICE, "Add|Update"), is_schedulable_after_slice_change
)
"""GpuCapacityFilter's registration for the slices that publish a node's GPUs."""
