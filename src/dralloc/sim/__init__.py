"""Trace-driven simulation: real cluster traces replayed through the scheduler and allocator.

* `traces`: one loader per trace (`openb`, Alibaba's openb pod and node lists, the default
  workload shipped with the package; `dlrm`, Alibaba's 2025 DLRM trace; `synthetic`, a seeded
  generator; `node_events`), each with its own record types, converted in the loader to the
  request model everything below reads (`TracePod`, `TraceNode`, `ArrivalTrace`,
  `ReplayTrace`).
* `openb_objects`: the request model as Nodes, ResourceSlices, Pods and ResourceClaims.
* `experiment` and `fgd`: the FGD paper's arrival-only experiment, one run at a time.
* `replay`: time-based replay on a virtual clock through the real scheduling queue.
* `campaign` (runs in parallel, CSV files) and `report` (the self-contained report.html).
"""
