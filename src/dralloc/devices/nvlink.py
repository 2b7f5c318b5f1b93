"""Multi-node NVLink (GB200 NVL72 and alike): the node labels and objects that mark a domain.

Pure computation, no I/O. What the real components publish, and so what dralloc generates:

* GPU feature discovery labels every fabric-attached node `nvidia.com/gpu.clique` with
  `<cluster UUID>.<clique ID>` (NVIDIA/k8s-device-plugin `internal/lm/fabric.go`: the
  values NVML's `nvmlGpuFabricInfo_t` reports, the UUID in its canonical form and the clique
  ID in decimal; the label is only set when every GPU of the node reports the same pair).
  One GB200 NVL72 rack is one NVLink domain: its 18 compute trays of 4 GPUs share the
  cluster UUID, and with the default (single) NVLink partition they share one clique ID,
  so the label value names the rack's domain. The compute-domain kubelet plugin can set the
  same label where GFD is not deployed (dra-driver-nvidia-gpu#1247, off by default).
  dralloc makes each rack's cluster UUID up from the node-group name and rack index
  (uuid5), so generated fleets are reproducible; only equality between nodes matters.
* The GPU kubelet plugin (`gpu.nvidia.com`) publishes the GPUs of a GB200 tray exactly as
  any other node's (`cmd/gpu-kubelet-plugin/deviceinfo.go`): no clique or NVLink-domain
  attribute on any device, in v25.x and after. A DRA `matchAttribute` constraint therefore
  cannot keep devices inside one NVLink domain, and need not within one claim: a claim's
  devices come from node-local pools, so they share the node and hence the rack.
* The compute-domain kubelet plugin (driver `compute-domain.nvidia.com`, v25.x) publishes
  one ResourceSlice per node, pool named after the node, with two devices
  (`cmd/compute-domain-kubelet-plugin/{driver,deviceinfo,nvlib}.go`): `channel-0`
  (attributes `type: channel`, `id: 0`; channels 1-2047 are not advertised) and `daemon-0`
  (`type: daemon`, `id: 0`). Its Helm chart installs the DeviceClasses
  `compute-domain-default-channel.nvidia.com` (type channel, id 0) and
  `compute-domain-daemon.nvidia.com` (type daemon). A `ComputeDomain`
  (`resource.nvidia.com/v1beta1`, spec `numNodes` and `channel.resourceClaimTemplate.name`)
  makes the ResourceClaimTemplate a workload's pods name to get a channel; its status lists
  each joined node with its `cliqueID`. A ComputeDomain does not itself keep pods in one
  clique: users do, with node affinity or pod affinity on `nvidia.com/gpu.clique` or
  Kueue's topology-aware scheduling with that label as a Topology level.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    CELDeviceSelector,
    Device,
    DeviceAttribute,
    DeviceClass,
    DeviceClassSpec,
    DeviceSelector,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)

CLIQUE_LABEL = "nvidia.com/gpu.clique"
COMPUTE_DOMAIN_DRIVER = "compute-domain.nvidia.com"
CHANNEL_CLASS = "compute-domain-default-channel.nvidia.com"
DAEMON_CLASS = "compute-domain-daemon.nvidia.com"
NVL72_NODES_PER_RACK = 18  # compute trays per GB200 NVL72 rack
NVL72_GPUS_PER_NODE = 4  # two Grace CPUs and four Blackwell GPUs per tray
# The clique ID dralloc gives every rack (its default NVLink partition). Only equality
# between nodes matters to a scheduler; a rack partitioned into several cliques would carry
# several values under one cluster UUID.
DEFAULT_CLIQUE_ID = 32766
_NAMESPACE = uuid.UUID("6f1d5a52-2f63-4c8e-9a57-0c1f4f1d6e2b")  # dralloc's uuid5 namespace


def clique_label_value(cluster_uuid: str, clique_id: int) -> str:
    """The `nvidia.com/gpu.clique` value GFD writes: `<cluster UUID>.<clique ID>`."""
    return f"{cluster_uuid}.{clique_id}"


def rack_cluster_uuid(group: str, rack: int) -> str:
    """A made-up, reproducible NVLink domain (cluster) UUID for rack `rack` of `group`."""
    return str(uuid.uuid5(_NAMESPACE, f"{group}/rack-{rack}"))


@dataclass(frozen=True)
class NvlRack:
    """One multi-node NVLink rack: `nodes` trays of `gpus_per_node` GPUs in one clique.

    >>> rack = NvlRack("gb200-nvl72", 0)
    >>> rack.labels()["nvidia.com/gpu.clique"].endswith(".32766")
    True
    """

    group: str
    index: int
    nodes: int = NVL72_NODES_PER_RACK
    gpus_per_node: int = NVL72_GPUS_PER_NODE
    clique_id: int = DEFAULT_CLIQUE_ID

    @property
    def cluster_uuid(self) -> str:
        return rack_cluster_uuid(self.group, self.index)

    @property
    def clique(self) -> str:
        return clique_label_value(self.cluster_uuid, self.clique_id)

    def labels(self) -> dict[str, str]:
        """The labels GFD adds to each of the rack's nodes for the fabric."""
        return {CLIQUE_LABEL: self.clique}


def _attribute_string(value: str) -> DeviceAttribute:
    return DeviceAttribute(string=value)


def compute_domain_node_slice(node_name: str, generation: int = 1) -> ResourceSlice:
    """The ResourceSlice the compute-domain kubelet plugin publishes for `node_name`."""
    devices = [
        Device(
            name=f"{kind}-0",
            attributes={"type": _attribute_string(kind), "id": DeviceAttribute(int_value=0)},
        )
        for kind in ("channel", "daemon")
    ]
    return ResourceSlice(
        metadata=ObjectMeta(name=f"{node_name}-{COMPUTE_DOMAIN_DRIVER}"),
        spec=ResourceSliceSpec(
            driver=COMPUTE_DOMAIN_DRIVER,
            node_name=node_name,
            pool=ResourcePool(name=node_name, generation=generation, resource_slice_count=1),
            devices=devices,
        ),
    )


def compute_domain_device_classes() -> list[DeviceClass]:
    """The DeviceClasses the driver's Helm chart installs for ComputeDomains (new objects)."""
    attrs = f"device.attributes['{COMPUTE_DOMAIN_DRIVER}']"
    expressions = {
        CHANNEL_CLASS: f"device.driver == '{COMPUTE_DOMAIN_DRIVER}' && {attrs}.type == 'channel'"
        f" && {attrs}.id == 0",
        DAEMON_CLASS: f"device.driver == '{COMPUTE_DOMAIN_DRIVER}' && {attrs}.type == 'daemon'",
    }
    return [
        DeviceClass(
            metadata=ObjectMeta(name=name),
            spec=DeviceClassSpec(selectors=[DeviceSelector(cel=CELDeviceSelector(expression))]),
        )
        for name, expression in expressions.items()
    ]
