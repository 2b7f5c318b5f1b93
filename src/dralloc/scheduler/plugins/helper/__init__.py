"""Helpers the in-tree plugins share (upstream's `framework/plugins/helper`): toleration
matching and the reading of plugin args. Plugins import this package, never each other."""

from dralloc.scheduler.plugins.helper.args import ArgsReader, check_no_args, is_qualified_name
from dralloc.scheduler.plugins.helper.hints import (
    ASSIGNED_POD_DELETE,
    assigned_pod_deleted,
    node_events,
    node_filter_hint,
)
from dralloc.scheduler.plugins.helper.taints import (
    find_untolerated_taint,
    tolerates,
    tolerations_tolerate_taint,
)

__all__ = [
    "ASSIGNED_POD_DELETE",
    "ArgsReader",
    "assigned_pod_deleted",
    "check_no_args",
    "find_untolerated_taint",
    "is_qualified_name",
    "node_events",
    "node_filter_hint",
    "tolerates",
    "tolerations_tolerate_taint",
]
