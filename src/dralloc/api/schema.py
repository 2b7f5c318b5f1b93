"""Which fields an object may have, and which kinds Kubernetes itself defines.

Kubernetes rejects a field it does not know: since 1.27 `kubectl apply` asks the API server for
strict field validation by default, and the server answers `strict decoding error: unknown
field "spec.devices.requests[0].exactly.cout"`. dralloc's typed structs model only the fields
it reads, so they cannot tell a misspelled field from a real one it ignores; this module can.

Owns:

* the schema of every kind dralloc reads, generated from the Kubernetes API's Go types
  (k8s.io/api at the version in `data/apischema.json`) by `tools/apischema`: for each type, the
  JSON name of every field and whether it holds a struct, a list or map of structs, or a value
  with no field names of its own (scalars, quantities, times, opaque `parameters`);
* the schema of the custom resources dralloc reads (JobSet, LeaderWorkerSet, and Kueue's
  v1beta1 and v1beta2 kinds), written here from their published API references over the same
  building blocks, open (unknown fields allowed) wherever this module does not list every field;
* the list of every built-in kind per group/version, so that a kind of a Kubernetes API group
  that does not exist (`apps/v1 Deploymnet`) is an error while a custom resource dralloc has no
  use for (`monitoring.coreos.com/v1 ServiceMonitor`) is simply set aside.

`unknown_field_problems(document, api_version, kind)` walks a raw document and returns one
`(path, message)` per unknown field, naming the known field it probably meant
(`spec.devices.requests[0].exactly.cout`: `unknown field "cout" (did you mean "count"?)`).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA_FILE = "apischema.json"
# A field schema entry that allows fields beyond the ones listed (custom resources whose
# schema dralloc does not list in full).
OPEN = "*"

_CORE_TEMPLATE = "core/v1.PodTemplateSpec"
_JOB_TEMPLATE = "batch/v1.JobTemplateSpec"
_META = "meta/v1.ObjectMeta"

# Custom resources, from their API references (jobset.x-k8s.io/v1alpha2,
# leaderworkerset.x-k8s.io/v1). Structs not listed in full are OPEN.
_CUSTOM_TYPES: dict[str, dict[str, str]] = {
    "jobset/v1alpha2.JobSet": {
        "apiVersion": "",
        "kind": "",
        "metadata": _META,
        "spec": "jobset/v1alpha2.JobSetSpec",
        "status": "",
    },
    "jobset/v1alpha2.JobSetSpec": {
        "replicatedJobs": "[]jobset/v1alpha2.ReplicatedJob",
        "network": "",
        "successPolicy": "",
        "failurePolicy": "",
        "startupPolicy": "",
        "suspend": "",
        "coordinator": "",
        "managedBy": "",
        "ttlSecondsAfterFinished": "",
        OPEN: "",
    },
    "jobset/v1alpha2.ReplicatedJob": {
        "name": "",
        "groupName": "",
        "template": _JOB_TEMPLATE,
        "replicas": "",
        "dependsOn": "",
        OPEN: "",
    },
    "lws/v1.LeaderWorkerSet": {
        "apiVersion": "",
        "kind": "",
        "metadata": _META,
        "spec": "lws/v1.LeaderWorkerSetSpec",
        "status": "",
    },
    "lws/v1.LeaderWorkerSetSpec": {
        "replicas": "",
        "leaderWorkerTemplate": "lws/v1.LeaderWorkerTemplate",
        "rolloutStrategy": "",
        "startupPolicy": "",
        "networkConfig": "",
        OPEN: "",
    },
    "lws/v1.LeaderWorkerTemplate": {
        "leaderTemplate": _CORE_TEMPLATE,
        "workerTemplate": _CORE_TEMPLATE,
        "size": "",
        "restartPolicy": "",
        "subGroupPolicy": "",
        OPEN: "",
    },
}
_CUSTOM_KINDS = {
    "jobset.x-k8s.io/v1alpha2/JobSet": "jobset/v1alpha2.JobSet",
    "leaderworkerset.x-k8s.io/v1/LeaderWorkerSet": "lws/v1.LeaderWorkerSet",
}


def _kueue_types(version: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Kueue's kinds at `version` (v1beta1 or v1beta2), from its API reference (kueue v0.17):
    every spec field listed, so a misspelled one is found; `status` is open. The two versions
    differ where Kueue renamed fields (`cohort` -> `cohortName`, a Workload's priority class)."""
    t = f"kueue/{version}."
    beta1 = version == "v1beta1"

    def kind(spec: str) -> dict[str, str]:
        return {"apiVersion": "", "kind": "", "metadata": _META, "spec": t + spec}

    quota_groups = f"[]{t}ResourceGroup"
    types: dict[str, dict[str, str]] = {
        t + "ClusterQueue": {**kind("ClusterQueueSpec"), "status": ""},
        t + "ClusterQueueSpec": {
            **dict.fromkeys(
                ["queueingStrategy", "stopPolicy", "cohort" if beta1 else "cohortName"], ""
            ),
            **({"admissionChecks": ""} if beta1 else {}),
            "resourceGroups": quota_groups,
            "namespaceSelector": "meta/v1.LabelSelector",
            "flavorFungibility": t + "FlavorFungibility",
            "preemption": t + "ClusterQueuePreemption",
            "admissionChecksStrategy": t + "AdmissionChecksStrategy",
            "admissionScope": t + "AdmissionScope",
            "fairSharing": t + "FairSharing",
        },
        t + "ResourceGroup": {"coveredResources": "", "flavors": f"[]{t}FlavorQuotas"},
        t + "FlavorQuotas": {"name": "", "resources": f"[]{t}ResourceQuota"},
        t + "ResourceQuota": dict.fromkeys(
            ["name", "nominalQuota", "borrowingLimit", "lendingLimit"], ""
        ),
        t + "FlavorFungibility": dict.fromkeys(
            ["whenCanBorrow", "whenCanPreempt", "preference"], ""
        ),
        t + "ClusterQueuePreemption": {
            "reclaimWithinCohort": "",
            "withinClusterQueue": "",
            "borrowWithinCohort": t + "BorrowWithinCohort",
        },
        t + "BorrowWithinCohort": {"policy": "", "maxPriorityThreshold": ""},
        t + "AdmissionChecksStrategy": {"admissionChecks": f"[]{t}AdmissionCheckStrategyRule"},
        t + "AdmissionCheckStrategyRule": {"name": "", "onFlavors": ""},
        t + "AdmissionScope": {"admissionMode": ""},
        t + "FairSharing": {"weight": ""},
        t + "Cohort": {**kind("CohortSpec"), "status": ""},
        t + "CohortSpec": {
            "parentName": "",
            "resourceGroups": quota_groups,
            "fairSharing": t + "FairSharing",
        },
        t + "LocalQueue": {**kind("LocalQueueSpec"), "status": ""},
        t + "LocalQueueSpec": {
            "clusterQueue": "",
            "stopPolicy": "",
            "fairSharing": t + "FairSharing",
        },
        t + "ResourceFlavor": kind("ResourceFlavorSpec"),
        t + "ResourceFlavorSpec": {
            "nodeLabels": "",
            "nodeTaints": "[]core/v1.Taint",
            "tolerations": "[]core/v1.Toleration",
            "topologyName": "",
        },
        t + "Topology": kind("TopologySpec"),
        t + "TopologySpec": {"levels": f"[]{t}TopologyLevel"},
        t + "TopologyLevel": {"nodeLabel": ""},
        t + "WorkloadPriorityClass": dict.fromkeys(
            ["apiVersion", "kind", "value", "description"], ""
        )
        | {"metadata": _META},
        t + "Workload": {**kind("WorkloadSpec"), "status": ""},
        t + "WorkloadSpec": {
            **dict.fromkeys(["active", "maximumExecutionTimeSeconds", "priority", "queueName"], ""),
            **(
                dict.fromkeys(["priorityClassName", "priorityClassSource"], "")
                if beta1
                else {"priorityClassRef": "", "preemptionGates": ""}
            ),
            "podSets": f"[]{t}PodSet",
        },
        t + "PodSet": {
            "name": "",
            "count": "",
            "minCount": "",
            "template": _CORE_TEMPLATE,
            "topologyRequest": t + "PodSetTopologyRequest",
        },
        t + "PodSetTopologyRequest": dict.fromkeys(
            [
                "required",
                "preferred",
                "unconstrained",
                "podIndexLabel",
                "subGroupIndexLabel",
                "subGroupCount",
                "podSetGroupName",
                "podSetSliceRequiredTopology",
                "podSetSliceSize",
                *([] if beta1 else ["podsetSliceRequiredTopologyConstraints"]),
            ],
            "",
        ),
    }
    kinds = {
        f"kueue.x-k8s.io/{version}/{name}": t + name
        for name in (
            "ClusterQueue",
            "Cohort",
            "LocalQueue",
            "ResourceFlavor",
            "Topology",
            "WorkloadPriorityClass",
            "Workload",
        )
    }
    return types, kinds


@dataclass(frozen=True)
class ApiSchema:
    """The generated schema plus dralloc's custom resources. Read-only after loading."""

    version: str
    builtin: Mapping[str, frozenset[str]]  # group/version -> kinds
    kinds: Mapping[str, str]  # group/version/Kind -> type name
    types: Mapping[str, Mapping[str, str]]  # type name -> field -> value description
    known: Mapping[str, frozenset[str]]  # type name -> field names (without OPEN)

    def type_of(self, api_version: str, kind: str) -> str | None:
        return self.kinds.get(f"{api_version}/{kind}")

    def is_builtin_group(self, api_version: str) -> bool:
        group = api_version.rpartition("/")[0]
        return any(gv.rpartition("/")[0] == group for gv in self.builtin)

    def builtin_kinds(self, api_version: str) -> frozenset[str]:
        return self.builtin.get(api_version, frozenset())


@functools.cache
def load_schema() -> ApiSchema:
    """The schema shipped with dralloc (read once per process: it never changes)."""
    text = resources.files("dralloc.api").joinpath("data", SCHEMA_FILE).read_text("utf-8")
    raw = json.loads(text)
    types: dict[str, Mapping[str, str]] = {**raw["types"], **_CUSTOM_TYPES}
    all_kinds: dict[str, str] = {**raw["kinds"], **_CUSTOM_KINDS}
    for version in ("v1beta1", "v1beta2"):
        kueue_types, kueue_kinds = _kueue_types(version)
        types.update(kueue_types)
        all_kinds.update(kueue_kinds)
    return ApiSchema(
        version=raw["version"],
        builtin={gv: frozenset(kinds) for gv, kinds in raw["builtin"].items()},
        kinds=all_kinds,
        types=types,
        known={name: frozenset(f for f in fields if f != OPEN) for name, fields in types.items()},
    )


def closest(name: str, candidates: frozenset[str] | list[str]) -> str | None:
    """The candidate a misspelling probably meant: same letters in another case first, then the
    closest by similarity (difflib's ratio of at least 0.6), else None."""
    folded = {c.lower(): c for c in candidates}
    if name.lower() in folded:
        return folded[name.lower()]
    found = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


INTEGER_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
UNKNOWN = "unknown field"
OUT_OF_RANGE = "out of range"


def unknown_field_problems(
    document: Mapping[str, Any], api_version: str, kind: str
) -> list[tuple[str, str]]:
    """`(path, message)` for every unknown field of the document, in document order."""
    return field_problems(document, api_version, kind)[0]


def field_problems(
    document: Mapping[str, Any], api_version: str, kind: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The document's unknown fields, and its integers the API server's decoder refuses (a
    number past int64, or past int32 where the field is one), each as `(path, message)` in
    document order: one walk for both."""
    schema = load_schema()
    type_name = schema.type_of(api_version, kind)
    if type_name is None:
        return [], []
    unknown: list[tuple[str, str]] = []
    out_of_range: list[tuple[str, str]] = []
    for tag, path, message in _walk(schema, type_name, document, ""):
        (unknown if tag == UNKNOWN else out_of_range).append((path, message))
    return unknown, out_of_range


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(
    schema: ApiSchema, type_name: str, value: Any, path: str
) -> Iterator[tuple[str, str, str]]:
    if not isinstance(value, dict):
        return  # a wrong type is the decoder's error, not an unknown field
    fields = schema.types.get(type_name)
    if fields is None:
        return
    known = schema.known[type_name]
    if not value.keys() <= known and OPEN not in fields:
        for key in value:
            if key not in known:
                name = str(key)
                hint = closest(name, known)
                suggestion = f' (did you mean "{hint}"?)' if hint else ""
                yield UNKNOWN, _join(path, name), f'unknown field "{name}"{suggestion}'
    for key, item in value.items():
        inner = fields.get(key) if isinstance(key, str) else None
        if not inner or item is None:
            continue
        yield from _walk_value(schema, inner, item, _join(path, key))


def _walk_value(
    schema: ApiSchema, description: str, value: Any, path: str
) -> Iterator[tuple[str, str, str]]:
    bounds = INTEGER_RANGES.get(description)
    if bounds is not None:
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = bounds
            if not low <= value <= high:
                yield OUT_OF_RANGE, path, f"number {value} is out of range for {description}"
        return
    if description.startswith("[]"):
        if isinstance(value, list):
            inner = description[2:]
            for index, item in enumerate(value):
                if item is not None:
                    yield from _walk_value(schema, inner, item, f"{path}[{index}]")
    elif description.startswith("map[]"):
        if isinstance(value, dict):
            inner = description[5:]
            for key, item in value.items():
                if item is not None:
                    yield from _walk_value(schema, inner, item, f"{path}[{key}]")
    else:
        yield from _walk(schema, description, value, path)
