"""The `InterPodAffinity` plugin: required and preferred pod affinity and anti-affinity."""

from dralloc.scheduler.plugins.interpodaffinity.args import InterPodAffinityArgs
from dralloc.scheduler.plugins.interpodaffinity.plugin import (
    NAME,
    REASON_AFFINITY,
    REASON_ANTI_AFFINITY,
    REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
)

__all__ = [
    "NAME",
    "REASON_AFFINITY",
    "REASON_ANTI_AFFINITY",
    "REASON_EXISTING_ANTI_AFFINITY",
    "InterPodAffinity",
    "InterPodAffinityArgs",
]
