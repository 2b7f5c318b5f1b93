"""Feature gates: the upstream names, their Kubernetes 1.36 defaults, and parsing.

A `Features` value is frozen and built once (from defaults plus `--feature-gates`), then passed
to whatever needs it; there is no global gate state. The allocator reads the seven derived
switches (`admin_access`, `prioritized_list`, ...) that upstream's allocator is parameterised by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

# Kubernetes 1.36 defaults (spec/dra-v1.md section 0.1). Gates that are GA and locked on
# still parse, because users copy gate lists from their clusters.
DEFAULT_GATES: Mapping[str, bool] = MappingProxyType(
    {
        "DynamicResourceAllocation": True,
        "DRAPrioritizedList": True,
        "DRAAdminAccess": True,
        "DRAResourceClaimDeviceStatus": True,
        "DRAPartitionableDevices": True,
        "DRADeviceTaints": True,
        "DRADeviceTaintRules": False,
        "DRAConsumableCapacity": True,
        "DRADeviceBindingConditions": True,
        "DRAExtendedResource": True,
        "DRASchedulerFilterTimeout": True,
        "DRAListTypeAttributes": False,
        "DRANodeAllocatableResources": False,
        "DRAWorkloadResourceClaims": False,
        # Workload-aware scheduling (spec/scheduler.md section 6), all alpha and off in 1.36:
        # the scheduling.k8s.io/v1alpha2 Workload and PodGroup API and pod.spec.schedulingGroup
        # (GenericWorkload), the GangScheduling plugin and the pod-group cycle (GangScheduling,
        # which needs GenericWorkload), and the features built on them.
        "GenericWorkload": False,
        "GangScheduling": False,
        "WorkloadAwarePreemption": False,
        "TopologyAwareWorkloadScheduling": False,
        "WorkloadWithJob": False,
    }
)

# GA gates locked on in 1.36. dralloc still lets them be switched off, to emulate the
# releases where they were beta (the allocator is parameterised by them, spec 0.1); the CLI
# warns when that happens.
LOCKED_ON = frozenset({"DynamicResourceAllocation", "DRAPrioritizedList", "DRAAdminAccess"})


# Upstream's feature dependencies (kube_features.go) for the gates dralloc's workload support
# reads: enabling one while a gate it depends on is off is refused at start-up.
DEPENDENCIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "GangScheduling": ("GenericWorkload",),
        "WorkloadAwarePreemption": ("GangScheduling",),
        "TopologyAwareWorkloadScheduling": ("GenericWorkload",),
        "WorkloadWithJob": ("GenericWorkload",),
        "DRAWorkloadResourceClaims": ("DynamicResourceAllocation", "GenericWorkload"),
    }
)


class FeatureGateError(ValueError):
    """A `--feature-gates` value names an unknown gate or is malformed."""


@dataclass(frozen=True)
class Features:
    """The feature gates in force. Build with `Features()` (1.36 defaults) or `parse_gates`.

    >>> Features().consumable_capacity
    True
    >>> parse_gates("DRAConsumableCapacity=false").consumable_capacity
    False
    """

    gates: Mapping[str, bool] = field(default_factory=lambda: DEFAULT_GATES)

    def enabled(self, gate: str) -> bool:
        return self.gates[gate]

    @property
    def admin_access(self) -> bool:
        return self.gates["DRAAdminAccess"]

    @property
    def prioritized_list(self) -> bool:
        return self.gates["DRAPrioritizedList"]

    @property
    def partitionable_devices(self) -> bool:
        return self.gates["DRAPartitionableDevices"]

    @property
    def device_taints(self) -> bool:
        return self.gates["DRADeviceTaints"]

    @property
    def device_binding_and_status(self) -> bool:
        # Upstream requires both gates for binding conditions (KEP-5007).
        return (
            self.gates["DRADeviceBindingConditions"] and self.gates["DRAResourceClaimDeviceStatus"]
        )

    @property
    def consumable_capacity(self) -> bool:
        return self.gates["DRAConsumableCapacity"]

    @property
    def list_type_attributes(self) -> bool:
        return self.gates["DRAListTypeAttributes"]

    @property
    def gang_scheduling(self) -> bool:
        # Upstream declares GangScheduling dependent on GenericWorkload: without the API there
        # is no PodGroup to gang by.
        return self.gates["GangScheduling"] and self.gates["GenericWorkload"]

    def emulated_off(self) -> list[str]:
        """Gates that are locked on in 1.36 but switched off here."""
        return sorted(g for g in LOCKED_ON if not self.gates[g])

    def with_gates(self, **changes: bool) -> Features:
        merged = dict(self.gates)
        merged.update(changes)
        return replace(self, gates=MappingProxyType(merged))


def parse_gates(text: str, base: Features | None = None) -> Features:
    """Parse `Gate=true,Other=false` (the kube-scheduler `--feature-gates` syntax)."""
    merged = dict((base or Features()).gates)
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise FeatureGateError(f"feature gate {item!r}: expected Name=true|false")
        if name not in merged:
            known = ", ".join(sorted(merged))
            raise FeatureGateError(f"unknown feature gate {name!r} (known: {known})")
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise FeatureGateError(
                f"feature gate {name}: value must be true or false, got {value!r}"
            )
        merged[name] = lowered == "true"
    problems = [
        f"{gate} is enabled, but depends on features that are disabled: [{' '.join(off)}]"
        for gate, needs in DEPENDENCIES.items()
        if merged[gate] and (off := [need for need in needs if not merged[need]])
    ]
    if problems:
        raise FeatureGateError("; ".join(problems))
    return Features(MappingProxyType(merged))
