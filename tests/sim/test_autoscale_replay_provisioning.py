"""ProvisioningRequests in the replay (`dralloc.sim.replay.autoscale_provreq`), without queues:
trace pods named by a request's `dralloc.io/consumed-by` never cause an ordinary scale-up;
a best-effort-atomic request brings up all its nodes at once and its pods run on them, with
its conditions recorded; a check-capacity request on an empty fleet finds no capacity and its
pods wait. Tiny traces: one-GPU pods; L4 nodes with 2 fractional GPUs and fixed delays
(requested at t, devices published at t + 180 s)."""

from __future__ import annotations

import pytest
from autoscalekit import autoscaling_text, group

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.autoscaling.objects import parse_autoscaling_objects_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError
from dralloc.sim.replay import ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.traces import ReplayTrace, TimedPod, TracePod
from dralloc.sim.traces.model import GpuModels

CONFIG = autoscaling_text(
    "cluster-autoscaler",
    groups=[group("l4", "l4x2", max_size=3)],
    options="{scaleDownUnneededTime: 300, enableProvisioningRequests: true}",
)

TEMPLATES = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu-fractional.dralloc.io, count: 1}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: worker, namespace: default}
template:
  spec:
    containers:
    - name: main
      image: pause
      resources:
        requests: {cpu: 1, memory: 1Gi}
        claims: [{name: gpu}]
    resourceClaims:
    - {name: gpu, resourceClaimTemplateName: one-gpu}
"""


def request(name: str, klass: str, consumers: str, count: int = 4, parameters: str = "{}") -> str:
    return f"""\
---
apiVersion: autoscaling.x-k8s.io/v1
kind: ProvisioningRequest
metadata:
  name: {name}
  namespace: default
  annotations: {{dralloc.io/consumed-by: "{consumers}"}}
spec:
  provisioningClassName: {klass}.autoscaling.x-k8s.io
  podSets: [{{podTemplateRef: {{name: worker}}, count: {count}}}]
  parameters: {parameters}
"""


ATOMIC = "best-effort-atomic-scale-up"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def run(
    catalog: Catalog,
    manifests: str | None,
    arrivals: list[float],
    *,
    remember: bool = True,
    skip_hopeless: bool = True,
) -> ReplayResult:
    config = parse_autoscaling_text(CONFIG, "autoscaling.yaml", catalog=catalog)
    objects = parse_autoscaling_objects_text(manifests, "requests.yaml") if manifests else None
    scaling = ReplayAutoscaling(config, catalog, objects=objects, remember_quiet_loops=remember)
    pods = tuple(
        TimedPod(TracePod(f"p{i}", 1000, 1024, 1, 1000), arrival, 600.0)
        for i, arrival in enumerate(arrivals)
    )
    trace = ReplayTrace("tiny", (), pods, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    options = ReplayOptions(autoscaling=scaling, skip_hopeless_retries=skip_hopeless)
    return replay(trace, "fgd", 1, options)


def test_a_best_effort_atomic_request_brings_its_nodes_up_together_for_its_pods(
    catalog: Catalog,
) -> None:
    manifests = TEMPLATES + request("train", ATOMIC, "p0,p1,p2,p3")
    result = run(catalog, manifests, [0.0, 0.0, 0.0, 0.0, 400.0])
    summary = result.autoscaling
    assert summary is not None
    (outcome,) = summary.provisioning_requests
    assert outcome.key == "default/train"
    # Served at the first loop: both nodes at once, the consumers run once they publish.
    assert outcome.provisioned_after == 0.0
    assert [(u.time, u.condition, u.status, u.reason) for u in outcome.updates] == [
        (0.0, "Accepted", True, "Accepted"),
        (0.0, "Provisioned", True, "CapacityIsProvisioned"),
        (180.0, "BookingExpired", True, "CapacityBookingConsumed"),
    ]
    assert outcome.final == "BookingExpired"
    assert [p.start for p in result.pods[:4]] == [180.0] * 4
    # The fifth pod is an ordinary one: its own scale-up.
    assert result.pods[4].start == 590.0
    assert summary.scale_ups == 2
    # Skipping quiet loops changes nothing: the requests' timers are the loop's.
    plain = run(catalog, manifests, [0.0, 0.0, 0.0, 0.0, 400.0], remember=False)
    assert plain.pods == result.pods
    assert plain.autoscaling is not None
    assert plain.autoscaling.provisioning_requests == summary.provisioning_requests
    # Nor does answering hopeless retries without a cycle: the devices each node publishes
    # after it joined count as room gained.
    cycles = run(catalog, manifests, [0.0, 0.0, 0.0, 0.0, 400.0], skip_hopeless=False)
    assert cycles.pods == result.pods
    assert result.attempts + result.retries_skipped == cycles.attempts


def test_consumers_never_trigger_an_ordinary_scale_up(catalog: Catalog) -> None:
    # A check-capacity request on an empty fleet finds no capacity (and, with noRetry, fails
    # at once): its pods stay pending and no node is requested for them.
    no_retry = '{noRetry: "true"}'
    manifests = TEMPLATES + request("probe", "check-capacity", "p0,p1", 2, no_retry)
    result = run(catalog, manifests, [0.0, 0.0])
    summary = result.autoscaling
    assert summary is not None
    (outcome,) = summary.provisioning_requests
    assert outcome.conditions == (
        ("Accepted", True, "Accepted"),
        ("Failed", True, "CapacityIsNotFound"),
    )
    assert (outcome.final, outcome.provisioned_after) == ("Failed", None)
    assert summary.provisioning_requests_by_final == {"Failed": 1}
    assert [p.start for p in result.pods] == [None, None]
    assert summary.scale_ups == 0
    # The same pods consuming nothing scale a node up.
    plain = run(catalog, None, [0.0, 0.0])
    assert [p.start for p in plain.pods] == [190.0, 190.0]


def test_a_consumer_named_by_two_requests_is_refused(catalog: Catalog) -> None:
    manifests = TEMPLATES + request("a", ATOMIC, "p0") + request("b", ATOMIC, "p0, p1")
    with pytest.raises(InputError) as caught:
        parse_autoscaling_objects_text(manifests, "requests.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "requests.yaml: ProvisioningRequest default/b: "
        "metadata.annotations[dralloc.io/consumed-by]: pod p0 already consumes default/a"
    ]
