"""DefaultBinder: binds through the callable the scheduler passes in."""

from __future__ import annotations

import pytest
from schedkit import pod

from dralloc.errors import ConflictError
from dralloc.scheduler.framework import SUCCESS, CycleState, PodInfo, Status
from dralloc.scheduler.plugins.defaultbinder import DefaultBinder


def _conflict(pod_info: PodInfo, node_name: str) -> None:
    raise ConflictError("pod default/pod is already bound to node-0")


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        pytest.param(False, SUCCESS, id="bound"),
        pytest.param(
            True,
            Status.error(
                "binding pod default/pod to node node-1: pod default/pod is already bound to node-0"
            ),
            id="binder-error",
        ),
    ],
)
def test_bind_records_the_binding_or_reports_an_error(fail: bool, expected: Status) -> None:
    bound: list[tuple[str, str]] = []

    def record(pod_info: PodInfo, node_name: str) -> None:
        bound.append((pod_info.key, node_name))

    plugin = DefaultBinder(_conflict if fail else record)
    assert plugin.bind(CycleState(), pod(), "node-1") == expected
    assert bound == ([] if fail else [("default/pod", "node-1")])


def test_a_bug_in_the_binder_is_not_swallowed() -> None:
    def broken(pod_info: PodInfo, node_name: str) -> None:
        raise KeyError(node_name)

    with pytest.raises(KeyError):
        DefaultBinder(broken).bind(CycleState(), pod(), "node-1")
