"""A scheduling framework modeled on kube-scheduler: queue, per-pod cycle, plugins.

`builder.build_scheduler` puts a scheduler together (cache, allocator, registry, profiles,
pod signature, frameworks, queue) for every caller. `framework/` holds the statuses, node and
pod info, extension-point Protocols, cluster events and the runtime; `queue/` the scheduling
queue; `plugins/` the in-tree plugins, each declaring the events that may change its mind;
`profiles.py` the registry and the profile rules; `admission.py` and `offline.py` what
`dralloc schedule` does around the cycle.
"""
