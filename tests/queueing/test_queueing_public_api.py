"""dralloc.queueing lists its public names in __all__, and every listed name exists."""

from __future__ import annotations

import dralloc.queueing as queueing


def test_every_public_name_of_the_queueing_package_is_importable() -> None:
    assert queueing.__all__
    assert [n for n in queueing.__all__ if not hasattr(queueing, n)] == []
    assert len(queueing.__all__) == len(set(queueing.__all__))


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
    ):
        assert name in queueing.__all__
