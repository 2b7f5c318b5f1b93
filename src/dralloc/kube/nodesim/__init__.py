"""Simulated GPU and TPU nodes for any cluster: the objects `dralloc cluster generate`
describes, published to a live API server, and a kubelet and DRA driver that run nothing.

`objects.py` plans what is published (pure), `status.py` builds the statuses a kubelet and
a driver write (pure), `kubelet.py` watches pods and claims and writes those statuses, and
`fleet.py` ties them together as `SimulatedFleet`, which `dralloc nodes simulate` runs and
tests use as the cluster's kubelet.
"""

from dralloc.kube.nodesim.fleet import Published, SimulatedFleet
from dralloc.kube.nodesim.kubelet import KubeletCounts, SimulatedKubelet, SystemClock, WallClock
from dralloc.kube.nodesim.objects import FleetObjects, parse_label, parse_taint, plan_fleet
from dralloc.kube.nodesim.status import (
    SIMULATED_DURATION_ANNOTATION,
    PodAddressPool,
    parse_simulated_duration,
)

__all__ = [
    "SIMULATED_DURATION_ANNOTATION",
    "FleetObjects",
    "KubeletCounts",
    "PodAddressPool",
    "Published",
    "SimulatedFleet",
    "SimulatedKubelet",
    "SystemClock",
    "WallClock",
    "parse_label",
    "parse_simulated_duration",
    "parse_taint",
    "plan_fleet",
]
