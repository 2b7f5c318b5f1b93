"""A trace in DRA terms: the Nodes, ResourceSlices, Pods and ResourceClaims a real cluster
running it would hold.

The simulator has no second model of GPUs: a trace node (`TraceNode`, whatever trace it came
from) becomes the objects the scheduler and the allocator read everywhere else, and a trace
pod (`TracePod`) becomes a Pod with a ResourceClaim. This module reads only the request model
of `sim.traces.model`, never a loader's records. The layout of labels and devices is the openb
cluster's (its Node manifests), hence the name; every trace is dressed the same way.

* **Models.** `GpuModels` maps a trace's model codes to catalog models: openb's come from
  `data/openb/models.yaml` (`traces.openb.openb_models`, the default here): T4, P100, V100M16,
  V100M32 and A10 are catalog models; G2 and G3 are undisclosed Alibaba codes, described in
  `data/openb/catalog/gpus.yaml` (catalog format, `verified: false`).
* **Nodes.** A Node with the trace's CPU and memory as allocatable (`pods: 1001`, as the
  openb trace's Node manifests say), labels `alibabacloud.com/gpu-card-model` and
  `alibabacloud.com/gpu-count`; its GPUs are published by `devices.SliceBuilder` with
  fractional sharing: every GPU allows multiple allocations and has the consumable
  capacities `cores` (percent of the GPU) and `memory`.
* **Pods.** CPU and memory become container requests. A GPU pod gets one ResourceClaim,
  `<pod>-gpu`, with one request `gpu` of class `gpu-fractional.dralloc.io`:
  - a sharing pod (`num_gpu = 1`, `gpu_milli < 1000`) asks for one device with
    `cores: gpu_milli / 10` and the same fraction of the GPU's memory (rounded down to MiB, so
    shares of one GPU never book more memory than it has);
  - a k-GPU pod asks for `count: k` devices with the defaults, which are the whole device
    (`cores: 100`, all of `memory`);
  - `gpu_spec` becomes a CEL selector on the `productName` of the allowed models.
  `cores` is a percentage, so `gpu_milli` must be a multiple of 10; every openb file is, and
  anything else is refused, naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dralloc.api.core import (
    Container,
    Node,
    NodeSpec,
    NodeStatus,
    Pod,
    PodResourceClaim,
    PodSpec,
    ResourceClaimRef,
    ResourceRequirements,
)
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    CapacityRequirements,
    CELDeviceSelector,
    DeviceClaim,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceSlice,
)
from dralloc.devices.catalog import GpuModel
from dralloc.devices.slices import Sharing, SliceBuilder
from dralloc.errors import InputError, Problem
from dralloc.sim.traces.model import GpuModels, TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

MODEL_LABEL = "alibabacloud.com/gpu-card-model"
COUNT_LABEL = "alibabacloud.com/gpu-count"
GPU_CLASS = "gpu-fractional.dralloc.io"
GPU_REQUEST = "gpu"
NAMESPACE = "default"
_MEBIBYTE = 1 << 20
_FRACTIONAL = Sharing("fractional")


@dataclass
class OpenbNodeObjects:
    node: Node
    slices: list[ResourceSlice]
    model: GpuModel | None


def node_objects(node: TraceNode, models: GpuModels, builder: SliceBuilder) -> OpenbNodeObjects:
    """The Node and the GPU driver's ResourceSlices of one trace node."""
    allocatable = {
        "cpu": Quantity.parse(f"{node.cpu_milli}m"),
        "memory": Quantity.parse(f"{node.memory_mib}Mi"),
        "pods": Quantity.from_int(1001),
    }
    labels = {"kubernetes.io/hostname": node.name}
    model = None
    slices: list[ResourceSlice] = []
    if node.gpus > 0 and node.model is not None:
        model = models.model(node.model)
        labels[MODEL_LABEL] = node.model
        labels[COUNT_LABEL] = str(node.gpus)
        slices = builder.node_slices(node.name, model, node.gpus, sharing=_FRACTIONAL)
    return OpenbNodeObjects(
        node=Node(
            metadata=ObjectMeta(name=node.name, labels=labels),
            spec=NodeSpec(),
            status=NodeStatus(capacity=dict(allocatable), allocatable=allocatable),
        ),
        slices=slices,
        model=model,
    )


def cluster_objects(
    nodes: Iterable[TraceNode], models: GpuModels | None = None
) -> list[OpenbNodeObjects]:
    """Every trace node's objects, sharing one SliceBuilder."""
    resolved = models if models is not None else openb_models()
    builder = SliceBuilder()
    return [node_objects(node, resolved, builder) for node in nodes]


@dataclass
class OpenbPodObjects:
    pod: Pod
    claim: ResourceClaim | None


def _spec_selector(pod: TracePod, models: GpuModels) -> list[DeviceSelector]:
    if not pod.gpu_spec:
        return []
    products = sorted({models.model(code).product_name for code in pod.gpu_spec})
    listed = ", ".join(f"'{product}'" for product in products)
    expression = f"device.attributes['gpu.nvidia.com'].productName in [{listed}]"
    return [DeviceSelector(cel=CELDeviceSelector(expression))]


def _sharing_memory(pod: TracePod, models: GpuModels) -> Quantity:
    """The pod's fraction of the smallest GPU it may land on, rounded down to whole MiB."""
    codes = pod.gpu_spec or frozenset(models.by_code)
    smallest = min(models.model(code).memory.as_integer() for code in codes)
    mebibytes = max(1, smallest * pod.gpu_milli // 1000 // _MEBIBYTE)
    return Quantity.parse(f"{mebibytes}Mi")


def pod_objects(pod: TracePod, models: GpuModels, file: str = "") -> OpenbPodObjects:
    """The Pod and, for a GPU pod, its ResourceClaim. InputError for a `gpu_milli` that is not
    a whole percentage (no openb file has one)."""
    name = pod.name
    requests = {
        "cpu": Quantity.parse(f"{pod.cpu_milli}m"),
        "memory": Quantity.parse(f"{pod.memory_mib}Mi"),
    }
    claim = None
    claim_refs: list[ResourceClaimRef] = []
    pod_claims: list[PodResourceClaim] = []
    if pod.num_gpu > 0:
        if pod.gpu_milli % 10:
            raise InputError(
                [
                    Problem(
                        file,
                        f"line {pod.line}",
                        "gpu_milli",
                        f"{pod.gpu_milli} is not a whole percentage of a GPU "
                        "(the fractional `cores` capacity counts percent)",
                    )
                ]
            )
        capacity = None
        if pod.gpu_milli < 1000:
            capacity = CapacityRequirements(
                requests={
                    "cores": Quantity.from_int(pod.gpu_milli // 10),
                    "memory": _sharing_memory(pod, models),
                }
            )
        request = ExactDeviceRequest(
            device_class_name=GPU_CLASS,
            allocation_mode="ExactCount",
            count=pod.num_gpu,
            selectors=_spec_selector(pod, models),
            capacity=capacity,
        )
        claim = ResourceClaim(
            metadata=ObjectMeta(name=f"{name}-gpu", namespace=NAMESPACE),
            spec=ResourceClaimSpec(
                devices=DeviceClaim(requests=[DeviceRequest(name=GPU_REQUEST, exactly=request)])
            ),
        )
        claim_refs = [ResourceClaimRef(name=GPU_REQUEST)]
        pod_claims = [PodResourceClaim(name=GPU_REQUEST, resource_claim_name=f"{name}-gpu")]
    container = Container(
        name="main", resources=ResourceRequirements(requests=requests, claims=claim_refs)
    )
    spec = PodSpec(containers=[container], resource_claims=pod_claims)
    return OpenbPodObjects(
        pod=Pod(metadata=ObjectMeta(name=name, namespace=NAMESPACE), spec=spec), claim=claim
    )
