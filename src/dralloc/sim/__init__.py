"""Trace-driven simulation: real cluster traces replayed through the scheduler and allocator.

* `traces`: one loader per trace (`openb`, Alibaba's openb pod and node lists, the default
  workload shipped with the package; `dlrm`, Alibaba's 2025 DLRM trace; `synthetic`, a seeded
  generator; `node_events`), each with its own record types, converted in the loader to the
  request model everything below reads (`TracePod`, `TraceNode`, `ArrivalTrace`,
  `ReplayTrace`).
* `openb_objects`: the request model as Nodes, ResourceSlices, Pods and ResourceClaims.
* `experiment` and `fgd`: the FGD paper's arrival-only experiment, one run at a time.
* `replay`: time-based replay on a virtual clock through the real scheduling queue.
* `campaign` (the runs and their CSV files; `summaries`, their medians over seeds), run by
  `runner` (worker processes, a clean stop) with `progress` (a line per run and the ETA);
  `outdir` writes --out whole.
* `costs` (the cost of capacity at `prices`), and the reports built around the decision:
  `report` (FGD) and `replay_report`, on the page `pages` shares (one plotly.min.js beside
  them), with `styles` (a policy's colour and dash), `provenance` (the footer) and `export`
  (PDF or PNG through the machine's Chromium).
"""
