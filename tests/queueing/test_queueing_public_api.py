"""dralloc.queueing exports the entry points the simulator and a live controller build on
(tests/test_public_api.py checks every listed name exists)."""

from __future__ import annotations

import dralloc.queueing as queueing


def test_the_entry_points_the_simulator_and_a_live_controller_build_on_are_exported() -> None:
    for name in (
        "read_queue_files",
        "QueueState",
        "QueueManager",
        "schedule",
        "evict",
        "explain",
        "queue_statuses",
        "ClassicalPreemptor",
        "Nominations",
        "evict_for_node_failure",
        "NODE_FAILURES",
        "PreemptionPlacement",
        "AlikePlacement",
    ):
        assert name in queueing.__all__
