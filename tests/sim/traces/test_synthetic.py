"""The seeded synthetic trace: the same options give the same trace, the draws follow the
documented distributions, the cluster follows the options, and bad options are named."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest

from dralloc.errors import InputError
from dralloc.sim.replay import replay
from dralloc.sim.traces.model import TracePod
from dralloc.sim.traces.synthetic import (
    PodKind,
    SyntheticPod,
    SyntheticWorkload,
    draw_pods,
    generate,
    timed_pod,
    trace_pod,
)


def test_the_same_options_give_the_same_trace_and_another_seed_another() -> None:
    first = generate("synthetic:pods=200,seed=3")
    again = generate("synthetic:pods=200,seed=3")
    other = generate("synthetic:pods=200,seed=4")
    assert first.pods == again.pods and first.nodes == again.nodes
    assert first.pods != other.pods


def test_the_defaults_are_the_documented_cluster_and_workload() -> None:
    trace = generate("synthetic")
    defaults = SyntheticWorkload()
    assert len(trace.pods) == defaults.pods == 2000
    assert len(trace.nodes) == 16 and trace.total_gpus == 128
    assert {n.model for n in trace.nodes} == {"a100-80gb"}
    assert trace.nodes[0].cpu_milli == 128000 and trace.nodes[0].memory_mib == 1024 * 1024
    assert trace.workload == "synthetic"
    assert trace.notes == ("2,000 pods (seed 1), 16 nodes x 8 GPUs (a100-80gb)",)


def test_arrivals_are_poisson_and_durations_lognormal() -> None:
    trace = generate("synthetic:pods=4000,rate=0.1,median=600,sigma=0.5,seed=11")
    arrivals = [t.arrival for t in trace.pods]
    assert arrivals == sorted(arrivals)
    gaps = [b - a for a, b in zip([0.0, *arrivals], arrivals, strict=False)]
    assert statistics.mean(gaps) == pytest.approx(10, rel=0.05)  # 1 / rate
    # For exponential gaps the deviation equals the mean.
    assert statistics.stdev(gaps) == pytest.approx(10, rel=0.1)
    durations = [t.duration for t in trace.pods if t.duration is not None]
    assert statistics.median(durations) == pytest.approx(600, rel=0.05)
    logs = [math.log(d) for d in durations]
    assert statistics.stdev(logs) == pytest.approx(0.5, rel=0.05)


def test_requests_follow_the_weights_shares_and_sizes() -> None:
    trace = generate(
        "synthetic:pods=3000,cpu_only=1,sharing=1,whole=1,multi=1,shares=300|700,sizes=2|4"
    )
    kinds: Counter[str] = Counter()
    for timed in trace.pods:
        pod = timed.pod
        if pod.num_gpu == 0:
            kinds["cpu_only"] += 1
            assert (pod.cpu_milli, pod.memory_mib) == (8000, 64 * 1024)
        elif pod.gpu_milli < 1000:
            kinds["sharing"] += 1
            assert pod.num_gpu == 1 and pod.gpu_milli in (300, 700)
            assert pod.cpu_milli == 8 * pod.gpu_milli
        elif pod.num_gpu == 1:
            kinds["whole"] += 1
        else:
            kinds["multi"] += 1
            assert pod.num_gpu in (2, 4) and pod.gpu_milli == 1000
            assert pod.memory_mib == pod.num_gpu * 64 * 1024
    for kind in ("cpu_only", "sharing", "whole", "multi"):
        assert kinds[kind] == pytest.approx(750, rel=0.12), kind


def test_models_take_turns_and_spec_binds_gpu_pods_to_one_of_them() -> None:
    trace = generate("synthetic:pods=300,nodes=5,models=a100-80gb|l4,spec=1")
    assert [n.model for n in trace.nodes] == ["a100-80gb", "l4", "a100-80gb", "l4", "a100-80gb"]
    specs = {t.pod.gpu_spec for t in trace.pods if t.pod.num_gpu}
    assert specs == {frozenset({"a100-80gb"}), frozenset({"l4"})}
    assert all(not t.pod.gpu_spec for t in trace.pods if not t.pod.num_gpu)
    assert trace.models.model("l4").product_name.startswith("NVIDIA L4")


def test_drawn_pods_convert_to_the_request_model_as_drawn() -> None:
    bound = SyntheticPod("syn-00001", PodKind.SHARING, 61.25, 3600.0, 1, 500, 4000, 32768, "l4")
    assert trace_pod(bound) == TracePod("syn-00001", 4000, 32768, 1, 500, frozenset({"l4"}))
    free = SyntheticPod("syn-00002", PodKind.CPU_ONLY, 70.0, 5.5, 0, 0, 8000, 65536, None)
    assert trace_pod(free).gpu_spec == frozenset() and trace_pod(free).is_cpu_only
    assert (timed_pod(bound).arrival, timed_pod(bound).duration) == (61.25, 3600.0)


def test_the_trace_is_the_drawn_pods_converted() -> None:
    options = SyntheticWorkload(pods=100, spec=0.5, models="a100-80gb|l4", seed=9)
    drawn = draw_pods(options, [250, 500, 750], [2, 4, 8], ["a100-80gb", "l4"])
    trace = generate("synthetic:pods=100,spec=0.5,models=a100-80gb|l4,seed=9")
    assert trace.pods == tuple(timed_pod(pod) for pod in drawn)
    kinds = Counter(pod.kind for pod in drawn)
    assert set(kinds) <= set(PodKind) and kinds[PodKind.WHOLE] > 0
    assert all(
        (pod.model is None) == (not t.pod.gpu_spec)
        for pod, t in zip(drawn, trace.pods, strict=True)
    )


def test_a_synthetic_trace_replays_deterministically() -> None:
    trace = generate("synthetic:pods=150,nodes=2,rate=0.05,spec=0.3,models=a100-80gb|t4")
    first = replay(trace, "fgd", seed=5)
    second = replay(trace, "fgd", seed=5)
    assert first.pods == second.pods
    assert first.summary().pods == 150
    assert first.summary().pending == 0  # every pod fits an empty node and all end


@pytest.mark.parametrize(
    ("workload", "line"),
    [
        ("synthetic:pods=x", "--trace synthetic:pods=x: pods: 'x' is not a whole number"),
        ("synthetic:rate=0", "--trace synthetic:rate=0: rate: must be > 0, got 0.0"),
        ("synthetic:rate=inf", "--trace synthetic:rate=inf: rate: 'inf' is not a finite number"),
        (
            "synthetic:shares=250|333",
            "--trace synthetic:shares=250|333: shares: expected milli-GPU values 10..990",
        ),
        (
            "synthetic:sizes=16",
            "--trace synthetic:sizes=16: sizes: a pod of 16 GPUs cannot fit a node of gpus=8",
        ),
        (
            "synthetic:cpu_only=0,sharing=0,whole=0,multi=0",
            "--trace synthetic:cpu_only=0,sharing=0,whole=0,multi=0: whole: the weights",
        ),
        ("synthetic:models=z100", "--trace synthetic:models=z100: models: "),
        (
            "synthetic:node_cpu=32",
            "--trace synthetic:node_cpu=32: cpu_per_gpu: a pod of 8 GPUs needs more than",
        ),
        ("synthetic:spec=2", "--trace synthetic:spec=2: spec: must be between 0 and 1, got 2.0"),
        ("synthetic:pods", "--trace synthetic:pods: pods: expected key=value"),
    ],
)
def test_bad_options_name_the_workload_and_the_key(workload: str, line: str) -> None:
    with pytest.raises(InputError) as caught:
        generate(workload)
    assert str(caught.value).startswith(line)
