"""The live side of dralloc: talking to a real Kubernetes API server.

`client.py` sends every request (credentials from the kubeconfig, a client-side rate limit);
informers keep what the server last said; the claim assume cache, the binding cycle, events,
leader election and the cluster-mode controllers build on them. The scheduling itself is
`dralloc.scheduler`'s, unchanged: this package only feeds it the cluster and carries its
decisions to the server (spec/cluster-mode.md, sections 1-7).
"""

from dralloc.kube.client import (
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    Resource,
    load_kubeconfig,
)

__all__ = [
    "ApiStatusError",
    "ApiUnavailable",
    "KubeClient",
    "Resource",
    "load_kubeconfig",
]
