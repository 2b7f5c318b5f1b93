"""Trace-driven simulation: real cluster traces replayed through the scheduler and allocator.

* Trace loaders: `openb` (Alibaba's openb pod and node lists; the default workload ships with
  the package), `dlrm` (Alibaba's 2025 DLRM trace), `synthetic` (a seeded generator), and
  `openb_objects` (openb rows as Nodes, ResourceSlices and ResourceClaims).
* `experiment` and `fgd`: the FGD paper's arrival-only experiment, one run at a time.
* `replay`: time-based replay on a virtual clock through the real scheduling queue.
* `campaign` (runs in parallel, CSV files) and `report` (the self-contained report.html).
"""
