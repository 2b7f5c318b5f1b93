"""The API server's Priority and RuntimeClass admission as `dralloc schedule` gives it to a pod
(`dralloc.scheduler.admission`): what each sets on the pod, and what each refuses, with the
input's classes and without any."""

from __future__ import annotations

from typing import Any

import pytest

from dralloc.api.core import Pod, PriorityClass, RuntimeClass, Toleration
from dralloc.api.io import LoadedObject, decode_object
from dralloc.api.quantity import Quantity
from dralloc.scheduler.admission import admit_pod, merge_tolerations


def _loaded(raw: dict[str, Any]) -> LoadedObject:
    loaded, problems = decode_object(raw, "in.yaml", 1)
    assert loaded is not None and not problems, problems
    return loaded


def _pod(**spec: Any) -> LoadedObject:
    containers = [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]
    raw = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {**spec, "containers": containers},
    }
    return _loaded(raw)


def _priority_class(name: str, value: int, **fields: Any) -> PriorityClass:
    raw = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        **fields,
    }
    obj = _loaded(raw).obj
    assert isinstance(obj, PriorityClass)
    return obj


def _runtime_class(name: str, **fields: Any) -> RuntimeClass:
    raw = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": name},
        "handler": name,
        **fields,
    }
    obj = _loaded(raw).obj
    assert isinstance(obj, RuntimeClass)
    return obj


KATA = _runtime_class("kata", overhead={"podFixed": {"cpu": "250m", "memory": "120Mi"}})
GVISOR = _runtime_class(
    "gvisor",
    scheduling={
        "nodeSelector": {"runtime": "gvisor"},
        "tolerations": [{"key": "runtime", "operator": "Equal", "value": "gvisor"}],
    },
)
RUNC = _runtime_class("runc")
RUNTIMES = {c.metadata.name: c for c in (KATA, GVISOR, RUNC)}


def _admit(
    loaded: LoadedObject,
    classes: dict[str, PriorityClass] | None = None,
    runtimes: dict[str, RuntimeClass] | None = None,
    *,
    as_created: bool = False,
) -> tuple[Pod, list[str]]:
    assert isinstance(loaded.obj, Pod)
    pod, problems = admit_pod(loaded, loaded.obj, classes or {}, runtimes, as_created=as_created)
    return pod, [f"{p.field}: {p.message}" for p in problems]


# ------------------------------------------------------------------------------ RuntimeClass


def test_the_runtime_class_overhead_becomes_the_pods() -> None:
    pod, problems = _admit(_pod(runtimeClassName="kata"), runtimes=RUNTIMES)
    assert problems == []
    assert pod.spec.overhead == {"cpu": Quantity.parse("250m"), "memory": Quantity.parse("120Mi")}


def test_an_overhead_equal_by_value_is_accepted() -> None:
    loaded = _pod(runtimeClassName="kata", overhead={"cpu": "0.25", "memory": "122880Ki"})
    assert _admit(loaded, runtimes=RUNTIMES)[1] == []


@pytest.mark.parametrize(
    "overhead",
    [
        {"cpu": "1", "memory": "120Mi"},
        {"cpu": "250m"},
        {"cpu": "250m", "memory": "120Mi", "x": "0"},
    ],
)
def test_an_overhead_that_disagrees_with_the_runtime_class_is_refused(
    overhead: dict[str, str],
) -> None:
    loaded = _pod(runtimeClassName="kata", overhead=overhead)
    assert _admit(loaded, runtimes=RUNTIMES)[1] == [
        "spec.overhead: does not match the overhead of RuntimeClass 'kata' (cpu 250m, memory 120Mi)"
    ]


def test_a_runtime_class_the_input_does_not_hold_is_refused() -> None:
    assert _admit(_pod(runtimeClassName="wasm"), runtimes=RUNTIMES)[1] == [
        "spec.runtimeClassName: no RuntimeClass 'wasm' in the input"
    ]


def test_an_overhead_without_a_class_that_defines_one_is_refused() -> None:
    assert _admit(_pod(overhead={"cpu": "1"}), runtimes=RUNTIMES)[1] == [
        "spec.overhead: set without a RuntimeClass overhead (no RuntimeClass)"
    ]
    assert _admit(_pod(runtimeClassName="runc", overhead={"cpu": "1"}), runtimes=RUNTIMES)[1] == [
        "spec.overhead: set without a RuntimeClass overhead (RuntimeClass 'runc' defines none)"
    ]


def test_without_runtime_classes_in_the_input_the_overhead_stands_as_written() -> None:
    pod, problems = _admit(_pod(runtimeClassName="wasm", overhead={"cpu": "1"}))
    assert (problems, pod.spec.overhead) == ([], {"cpu": Quantity.parse("1")})


def test_the_runtime_class_scheduling_is_merged_into_the_pods() -> None:
    pod, problems = _admit(
        _pod(runtimeClassName="gvisor", nodeSelector={"zone": "a"}), runtimes=RUNTIMES
    )
    assert problems == []
    assert pod.spec.node_selector == {"zone": "a", "runtime": "gvisor"}
    assert pod.spec.tolerations == [Toleration(key="runtime", operator="Equal", value="gvisor")]


def test_a_node_selector_key_the_runtime_class_sets_otherwise_is_refused() -> None:
    loaded = _pod(runtimeClassName="gvisor", nodeSelector={"runtime": "runc"})
    assert _admit(loaded, runtimes=RUNTIMES)[1] == [
        "spec.nodeSelector: conflict: runtimeClass.scheduling.nodeSelector[runtime] = gvisor; "
        "pod.spec.nodeSelector[runtime] = runc"
    ]


def _toleration(key: str, operator: str = "Exists", **fields: Any) -> Toleration:
    return Toleration(key=key, operator=operator, **fields)


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        # Equal ones: the first is kept.
        ([_toleration("a")], [_toleration("a")], [_toleration("a")]),
        # A key-less Exists tolerates everything: it alone is left.
        ([_toleration("a"), _toleration("b")], [_toleration("")], [_toleration("")]),
        # An effect-less toleration covers each effect of its key.
        (
            [_toleration("a", effect="NoSchedule")],
            [_toleration("a")],
            [_toleration("a")],
        ),
        # Exists covers Equal of the same key; Equal covers only the same value.
        (
            [_toleration("a", "Equal", value="x"), _toleration("b", "Equal", value="y")],
            [_toleration("a"), _toleration("b", "Equal", value="z")],
            [
                _toleration("b", "Equal", value="y"),
                _toleration("a"),
                _toleration("b", "Equal", value="z"),
            ],
        ),
        # A bounded NoExecute toleration covers only a shorter one.
        (
            [_toleration("a", effect="NoExecute", toleration_seconds=60)],
            [_toleration("a", effect="NoExecute", toleration_seconds=30)],
            [_toleration("a", effect="NoExecute", toleration_seconds=60)],
        ),
        (
            [_toleration("a", effect="NoExecute", toleration_seconds=30)],
            [_toleration("a", effect="NoExecute")],
            [_toleration("a", effect="NoExecute")],
        ),
    ],
)
def test_tolerations_merge_as_upstream_merge_tolerations(
    first: list[Toleration], second: list[Toleration], merged: list[Toleration]
) -> None:
    assert merge_tolerations(first, second) == merged


# -------------------------------------------------------------------------------- Priority

HIGH = _priority_class("high", 1000)
POLITE = _priority_class("polite", 500, preemptionPolicy="Never")
BATCH = _priority_class("batch", 10, globalDefault=True)


def test_the_class_gives_priority_and_preemption_policy() -> None:
    pod, problems = _admit(_pod(priorityClassName="polite"), {"polite": POLITE})
    assert problems == []
    assert (pod.spec.priority, pod.spec.preemption_policy) == (500, "Never")


def test_a_pod_naming_no_class_gets_the_global_default_and_its_name() -> None:
    pod, problems = _admit(_pod(), {"high": HIGH, "batch": BATCH})
    assert problems == []
    assert (pod.spec.priority_class_name, pod.spec.priority) == ("batch", 10)
    assert pod.spec.preemption_policy == "PreemptLowerPriority"


def test_created_now_a_pod_naming_no_class_must_carry_the_computed_priority() -> None:
    pod, problems = _admit(_pod(priority=0), {"high": HIGH}, as_created=True)
    assert (problems, pod.spec.priority) == ([], 0)
    assert _admit(_pod(priority=7), {"high": HIGH}, as_created=True)[1] == [
        "spec.priority: the integer value of priority (7) must not be provided in pod spec; "
        "priority admission controller computed 0 from the given PriorityClass name"
    ]
    assert _admit(_pod(priority=0), {"batch": BATCH}, as_created=True)[1] == [
        "spec.priority: the integer value of priority (0) must not be provided in pod spec; "
        "priority admission controller computed 10 from the given PriorityClass name"
    ]


def test_an_input_pod_naming_no_class_keeps_the_priority_it_carries() -> None:
    # Admitted before the global default class existed: priority 0 and no class name.
    pod, problems = _admit(_pod(priority=0, preemptionPolicy="Never"), {"batch": BATCH})
    assert problems == []
    assert (pod.spec.priority_class_name, pod.spec.priority) == ("", 0)
    assert pod.spec.preemption_policy == "Never"


def test_a_priority_or_policy_that_disagrees_with_the_class_is_refused() -> None:
    loaded = _pod(priorityClassName="high", priority=5, preemptionPolicy="Never")
    assert _admit(loaded, {"high": HIGH})[1] == [
        "spec.priority: the integer value of priority (5) must not be provided in pod spec; "
        "priority admission controller computed 1000 from the given PriorityClass name",
        "spec.preemptionPolicy: the string value of PreemptionPolicy (Never) must not be "
        "provided in pod spec; priority admission controller computed PreemptLowerPriority from "
        "the given PriorityClass name",
    ]


def test_an_unknown_class_is_refused_even_with_a_priority_when_the_input_holds_classes() -> None:
    expected = ["spec.priorityClassName: no PriorityClass 'gone' in the input"]
    assert _admit(_pod(priorityClassName="gone", priority=5), {"high": HIGH})[1] == expected
    assert _admit(_pod(priorityClassName="gone"))[1] == expected


def test_without_classes_in_the_input_a_written_priority_and_policy_stand() -> None:
    pod, problems = _admit(_pod(priorityClassName="gone", priority=5, preemptionPolicy="Never"))
    assert problems == []
    assert (pod.spec.priority, pod.spec.preemption_policy) == (5, "Never")
    pod, problems = _admit(_pod(priority=7))
    assert (problems, pod.spec.priority) == ([], 7)


def test_a_system_class_is_known_without_objects() -> None:
    pod, problems = _admit(_pod(priorityClassName="system-node-critical"))
    assert (problems, pod.spec.priority) == ([], 2_000_001_000)
    assert _admit(_pod(priorityClassName="system-node-critical", priority=1))[1] == [
        "spec.priority: the integer value of priority (1) must not be provided in pod spec; "
        "priority admission controller computed 2000001000 from the given PriorityClass name"
    ]
