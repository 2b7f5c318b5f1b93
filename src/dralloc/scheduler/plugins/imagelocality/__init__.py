"""The `ImageLocality` plugin: prefer nodes that already hold the pod's images."""

from dralloc.scheduler.plugins.imagelocality.plugin import (
    MAX_CONTAINER_THRESHOLD,
    MIN_THRESHOLD,
    NAME,
    ImageLocality,
    normalized_image_name,
)

__all__ = [
    "MAX_CONTAINER_THRESHOLD",
    "MIN_THRESHOLD",
    "NAME",
    "ImageLocality",
    "normalized_image_name",
]
