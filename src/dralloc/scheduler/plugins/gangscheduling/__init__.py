"""The `GangScheduling` plugin: PreEnqueue and Permit of a gang's pods."""

from dralloc.scheduler.plugins.gangscheduling.plugin import NAME, GangLister, GangScheduling

__all__ = ["NAME", "GangLister", "GangScheduling"]
