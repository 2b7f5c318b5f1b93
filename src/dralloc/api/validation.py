"""API validation of resource.k8s.io/v1 and core/v1 objects (spec/dra-v1.md section 4).

Pure computation, no I/O. `validate(obj)` returns every problem as (field path, message).
"""

from __future__ import annotations

from typing import Any


def validate(obj: Any) -> list[tuple[str, str]]:
    """All validation problems of one decoded object, as (field path, message) pairs."""
    return []
