"""`DefaultBinder` (Bind): hands the binding to a callable the scheduler supplies.

Upstream POSTs a `pods/binding`; here the scheduler passes `binder(pod, node_name)` (the
store's bind, a cluster client's, or a simulator's), so this plugin only adapts it. A binder
that raises a `DrallocError` (a conflict, a missing pod) turns into an ERROR status, so the
pod is retried with backoff; anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable

from dralloc.errors import DrallocError
from dralloc.scheduler.framework import SUCCESS, CycleState, PodInfo, Status

NAME = "DefaultBinder"

Binder = Callable[[PodInfo, str], None]
"""Records that the pod is bound to the node (sets `spec.nodeName` where pods live)."""


class DefaultBinder:
    """Binds through `binder`.

    >>> bound = []
    >>> from dralloc.api.core import Pod
    >>> from dralloc.scheduler.framework import CycleState, PodInfo
    >>> plugin = DefaultBinder(lambda pod, node: bound.append(node))
    >>> plugin.bind(CycleState(), PodInfo.of(Pod()), "node-1").is_success, bound
    (True, ['node-1'])
    """

    name = NAME

    def __init__(self, binder: Binder) -> None:
        self.binder = binder

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        try:
            self.binder(pod, node_name)
        except DrallocError as error:
            return Status.error(f"binding pod {pod.key} to node {node_name}: {error}")
        return SUCCESS
