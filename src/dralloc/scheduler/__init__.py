"""A scheduling framework modeled on kube-scheduler: queue, per-pod cycle, plugins.

Being built (scheduler and simulator issue). `framework/` holds the statuses, node and pod
info, extension-point Protocols and the runtime; `plugins/` the in-tree plugins.
"""
