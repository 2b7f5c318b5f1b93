"""The `PodGroupPodsCount` placement-score plugin."""

from dralloc.scheduler.plugins.podgrouppodscount.plugin import PodGroupPodsCount

__all__ = ["PodGroupPodsCount"]
