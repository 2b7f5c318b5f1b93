"""The live side of dralloc: talking to a real Kubernetes API server.

- `client.py` sends every request (credentials from the kubeconfig, a client-side rate limit);
- `informer.py` / `shared_informers.py` keep what the server last said (list, watch with
  bookmarks, relist on 410);
- `mirror.py` feeds informer events to the scheduler cache and queues; `assume.py` is the
  claim assume cache; `binding.py` the binding cycle's writes; `events.py` events;
- `live.py` is the scheduling loop; `server.py` the `dralloc scheduler` process with
  `leader.py` (Lease election), `metrics.py` and `health.py`;
- `controllers/` are the controllers for clusters without kube-controller-manager;
- `nodesim/` simulates GPU nodes (`dralloc nodes simulate`);
- `readcluster.py` reads a live cluster once, as files would be read, for `explain` and
  `schedule --kubeconfig` (what-if: nothing is written).

The scheduling itself is `dralloc.scheduler`'s, unchanged: this package only feeds it the
cluster and carries its decisions to the server (spec/cluster-mode.md, sections 1-7).
"""

from dralloc.kube.assume import ClaimAssumeCache
from dralloc.kube.client import (
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    Resource,
    load_kubeconfig,
)
from dralloc.kube.health import HealthServer
from dralloc.kube.informer import Informer, InformerHandler, object_key
from dralloc.kube.leader import LeaderElectionConfig, LeaderElector, LeadershipLost
from dralloc.kube.live import LiveOptions, LiveScheduler
from dralloc.kube.metrics import SchedulerMetrics, accelerator_report
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.server import ServerOptions, serve
from dralloc.kube.shared_informers import SharedInformers

__all__ = [
    "ApiStatusError",
    "ApiUnavailable",
    "ClaimAssumeCache",
    "HealthServer",
    "Informer",
    "InformerHandler",
    "KubeClient",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLost",
    "LiveOptions",
    "LiveScheduler",
    "Ownership",
    "Resource",
    "SchedulerMetrics",
    "ServerOptions",
    "SharedInformers",
    "accelerator_report",
    "load_kubeconfig",
    "object_key",
    "parse_label_selector",
    "serve",
]
