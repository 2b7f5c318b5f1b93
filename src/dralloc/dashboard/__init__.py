"""dralloc's dashboard: a small, read-only web app over a scheduler's accelerators.

* `fleet.py`: the document (nodes x accelerators, MIG slices, shares, taints, claims and
  pods, pending pods, Kueue ClusterQueues, utilization, fragmentation, cost), pure; the
  accelerators' layout and fragmentation are `kube.accelerators`'s, which `/metrics` shares;
* `state.py`: the newest document and the history, handed from one writer to the HTTP threads;
* `server.py`: the HTTP server (stdlib, threads): the app, JSON endpoints, server-sent events,
  loopback by default and a bearer token elsewhere, GET and HEAD only;
* `live.py`: the companion a live `dralloc scheduler --dashboard` runs in its event loop;
* `queues.py`: Kueue's ClusterQueues with their usage, and the claims of Workloads waiting
  for admission, from a queueing state or a live controller's informers;
* `replayed.py`, `experimented.py`: the cluster a simulated replay (`--replay`) or an FGD
  experiment's run (`--fgd`) leaves, run in this process;
* `static/`: the app itself, hand-written HTML, CSS and JavaScript (no build step, no CDN).

The offline dashboard (`dralloc dashboard -f FILES`) and the explanations (`dralloc explain
--pod`'s) are wired in `cli/`, which owns reading input files and explaining pods.
"""

from dralloc.dashboard.fleet import SCHEMA, FleetBuilder, PendingPodView, PriceBook, build_fleet
from dralloc.dashboard.live import LiveDashboard, LiveExplainer
from dralloc.dashboard.server import DashboardServer, DashboardSettings, Explainer
from dralloc.dashboard.state import Published, Sample

__all__ = [
    "SCHEMA",
    "DashboardServer",
    "DashboardSettings",
    "Explainer",
    "FleetBuilder",
    "LiveDashboard",
    "LiveExplainer",
    "PendingPodView",
    "PriceBook",
    "Published",
    "Sample",
    "build_fleet",
]
