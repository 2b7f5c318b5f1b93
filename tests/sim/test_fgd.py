"""The FGD experiment's workload and measures (../shared/spec/fgd.md §2-§5).

Worked examples are computed by hand from the spec text; hypothesis checks the properties every
value must have. The openb typical-workload test reads the trace with the csv module and skips,
saying so, where ../shared is absent.
"""

from __future__ import annotations

import csv
import itertools
import math
import pickle
import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.sim.fgd import (
    ARRIVAL_AXIS,
    CurvePoint,
    FgdChoice,
    FragmentationMeter,
    FragmentCase,
    Metric,
    NodeState,
    RunLog,
    TaskType,
    aggregate,
    arrival_x,
    best_fgd_gpu,
    best_fit_gpu,
    bestfit_score,
    bucket,
    can_host,
    classify,
    cluster_fragment,
    dotprod_score,
    fgd_score,
    fragmentation_amount,
    fragmentation_rate,
    gpu_clustering_score,
    gpu_packing_score,
    gpu_tag,
    lowest_free_gpus,
    node_fragment,
    node_order,
    normalize_scores,
    random_fit_gpu,
    random_scores,
    task_fragment,
    tune,
    typical_workload,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
OPENB_DEFAULT = SHARED / "traces" / "openb" / "openb_pod_list_default.csv"


@dataclass(frozen=True)
class Pod:
    name: str
    cpu_milli: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: frozenset[str] = frozenset()
    memory_mib: int = 0


def share(milli: int, cpu: int = 1_000, spec: frozenset[str] = frozenset()) -> TaskType:
    return TaskType(cpu, milli, 1, spec)


def whole(k: int, cpu: int = 1_000, spec: frozenset[str] = frozenset()) -> TaskType:
    return TaskType(cpu, 1000, k, spec)


def cpu_only(cpu: int) -> TaskType:
    return TaskType(cpu, 0, 0)


# A T4 node with 10 cores left and GPUs 1000, 600, 300, 0 left: idle 1900.
NODE = NodeState("T4", 10_000, (1000, 600, 300, 0))


# --------------------------------------------------------------------------------------------
# §2 step 2: the target workload


def test_typical_workload_keeps_the_most_common_types_until_they_cover_95_percent() -> None:
    pods = [share(500)] * 50 + [whole(1)] * 30 + [cpu_only(2_000)] * 16 + [whole(8)] * 4
    workload = typical_workload(pods)
    # 50 + 30 + 16 = 96 >= 95: three types, the 8-GPU one dropped, shares renormalised over 96.
    assert [task for task, _ in workload] == [share(500), whole(1), cpu_only(2_000)]
    assert [p for _, p in workload] == pytest.approx([50 / 96, 30 / 96, 16 / 96])
    assert math.fsum(p for _, p in workload) == pytest.approx(1.0)


def test_typical_workload_stops_as_soon_as_coverage_is_reached_exactly() -> None:
    pods = [share(500)] * 95 + [whole(1)] * 5
    assert [task for task, _ in typical_workload(pods)] == [share(500)]


def test_typical_workload_keys_ignore_memory_and_read_the_spec_as_a_set() -> None:
    pods = [
        Pod("a", 1_000, 1, 1000, frozenset({"V100M16", "V100M32"}), memory_mib=1),
        Pod("b", 1_000, 1, 1000, frozenset({"V100M32", "V100M16"}), memory_mib=2),
    ]
    (only,) = typical_workload(pods)
    assert only == (whole(1, spec=frozenset({"V100M16", "V100M32"})), 1.0)


def test_equally_common_types_are_ordered_by_key_descending_like_the_artifact() -> None:
    pods = [share(300, cpu=2_000), share(500, cpu=2_000), share(500, cpu=1_000)] * 2
    tasks = [task for task, _ in typical_workload(pods, coverage=1.0)]
    assert tasks == [share(500, cpu=2_000), share(300, cpu=2_000), share(500, cpu=1_000)]


def test_typical_workload_of_no_pods_is_empty_and_bad_coverage_is_refused() -> None:
    assert typical_workload([]) == []
    with pytest.raises(ValueError, match="coverage"):
        typical_workload([share(500)], coverage=0)


def test_task_types_refuse_shapes_the_trace_cannot_hold() -> None:
    with pytest.raises(ValueError, match="whole GPUs"):
        TaskType(1_000, 500, 2)
    with pytest.raises(ValueError, match="both 0"):
        TaskType(1_000, 0, 1)
    with pytest.raises(ValueError, match="gpu_milli"):
        TaskType(1_000, 1200, 1)


def read_openb_pods(path: Path) -> list[Pod]:
    with path.open(newline="") as f:
        return [
            Pod(
                row["name"],
                int(row["cpu_milli"]),
                int(row["num_gpu"]),
                int(row["gpu_milli"]),
                frozenset(s for s in row.get("gpu_spec", "").split("|") if s),
                int(row["memory_mib"]),
            )
            for row in csv.DictReader(f)
        ]


def test_openb_default_typical_workload_is_35_types_covering_95_26_percent() -> None:
    if not OPENB_DEFAULT.is_file():
        pytest.skip(f"the openb trace is not at {OPENB_DEFAULT} (../shared absent)")
    pods = read_openb_pods(OPENB_DEFAULT)
    workload = typical_workload(pods)
    assert len(pods) == 8_152
    assert len(workload) == 35
    assert len({TaskType.of(p) for p in pods}) == 91
    kept = {task for task, _ in workload}
    covered = sum(1 for p in pods if TaskType.of(p) in kept)
    assert covered == 7_766
    assert round(100 * covered / len(pods), 2) == 95.26
    assert workload[0][0] == TaskType(3152, 810, 1)
    assert workload[0][1] == pytest.approx(1_047 / 7_766)
    assert math.fsum(p for _, p in workload) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# §3: the fragmentation measure, one test per case


def test_cpu_only_task_sees_all_idle_gpu_as_fragment_whether_or_not_its_cpu_fits() -> None:
    assert classify(NODE, cpu_only(2_000)) is FragmentCase.CPU_TASK_FITS
    assert task_fragment(NODE, cpu_only(2_000)) == 1900
    assert classify(NODE, cpu_only(20_000)) is FragmentCase.CPU_TASK_LACKS_CPU
    assert task_fragment(NODE, cpu_only(20_000)) == 1900


def test_task_whose_spec_excludes_the_model_sees_all_idle_gpu_as_fragment() -> None:
    excluded = share(500, spec=frozenset({"V100M16"}))
    assert classify(NODE, excluded) is FragmentCase.NO_ACCESS
    assert task_fragment(NODE, excluded) == 1900
    allowed = share(500, spec=frozenset({"T4", "P100"}))
    assert task_fragment(NODE, allowed) == 300  # 300 + 0: the GPUs below 500


def test_task_lacking_gpus_sees_all_idle_gpu_as_fragment_with_or_without_cpu() -> None:
    assert classify(NODE, whole(2)) is FragmentCase.LACK_GPU  # only one GPU is fully free
    assert task_fragment(NODE, whole(2)) == 1900
    assert classify(NODE, whole(2, cpu=20_000)) is FragmentCase.LACK_BOTH
    assert task_fragment(NODE, whole(2, cpu=20_000)) == 1900
    assert task_fragment(NODE, share(700)) == 900  # GPU 0 fits: only 600 + 300 + 0 are fragment


def test_task_with_enough_gpus_but_not_cpu_sees_all_idle_gpu_as_fragment() -> None:
    assert classify(NODE, share(500, cpu=20_000)) is FragmentCase.LACK_CPU
    assert task_fragment(NODE, share(500, cpu=20_000)) == 1900


def test_task_that_fits_sees_only_the_gpus_too_small_for_it() -> None:
    assert classify(NODE, share(500)) is FragmentCase.SATISFIED
    assert task_fragment(NODE, share(500)) == 300
    assert task_fragment(NODE, share(200)) == 0
    assert task_fragment(NODE, share(300)) == 0  # left = gpu_m is not too small
    assert task_fragment(NODE, whole(1)) == 900  # a whole-GPU task: every partly used GPU


def test_a_multi_gpu_task_needs_fully_free_gpus_and_sees_the_partly_used_ones() -> None:
    node = NodeState("G2", 50_000, (1000, 1000, 600, 0))
    assert classify(node, whole(2)) is FragmentCase.SATISFIED
    assert task_fragment(node, whole(2)) == 600
    assert classify(node, whole(4)) is FragmentCase.LACK_GPU
    assert can_host(node, whole(2)) and not can_host(node, whole(4))


def test_node_states_survive_pickling_with_a_fresh_hash() -> None:
    copy = pickle.loads(pickle.dumps(NODE))
    assert copy == NODE and hash(copy) == hash(NODE) and copy is not NODE
    with pytest.raises(ValueError, match="gpu_left"):
        NodeState("T4", 1_000, (1200,))


def test_node_fragment_is_the_share_weighted_sum_of_task_fragments() -> None:
    workload = [(share(500), 0.5), (whole(1), 0.25), (cpu_only(2_000), 0.25)]
    assert node_fragment(NODE, workload) == 0.5 * 300 + 0.25 * 900 + 0.25 * 1900 == 850.0
    meter = FragmentationMeter(workload)
    assert meter.node_fragment(NODE) == 850.0
    assert meter.node_fragment(NodeState("T4", 9_000, (0, 300, 600, 1000))) == 850.0
    assert (meter.hits, meter.misses) == (1, 1)  # same CPU bucket, GPUs permuted: one entry


def test_cluster_fragment_rate_and_amount() -> None:
    workload = [(whole(1), 1.0)]
    nodes = [NodeState("T4", 8_000, (1000, 300)), NodeState("T4", 8_000, (500, 0))]
    frag = cluster_fragment(nodes, FragmentationMeter(workload))
    assert frag == 300 + 500
    assert fragmentation_rate(frag, idle_milli=1800) == pytest.approx(800 / 1800 * 100)
    assert fragmentation_amount(frag, capacity_milli=4000) == 20.0
    assert fragmentation_rate(0.0, idle_milli=0) == 0.0


# --------------------------------------------------------------------------------------------
# §4.2: scores and GPU choice


def test_fgd_score_is_50_when_nothing_changes() -> None:
    meter = FragmentationMeter([(whole(1), 1.0)])
    node = NodeState("T4", 10_000, (1000, 1000))
    assert fgd_score(node, node.place(cpu_only(1_000), ()), meter) == 50


def test_fgd_score_rises_with_falling_fragmentation() -> None:
    meter = FragmentationMeter([(whole(1), 1.0)])
    node = NodeState("T4", 10_000, (500, 1000))  # F = 500
    # Filling GPU 0: F 500 -> 0, Δ = 500, int(100 · sigmoid(0.5)) = int(62.25) = 62.
    assert fgd_score(node, node.place(share(500), (0,)), meter) == 62
    # Halving GPU 1: F 500 -> 1000, Δ = -500, int(37.75) = 37.
    assert fgd_score(node, node.place(share(500), (1,)), meter) == 37
    assert best_fgd_gpu(node, share(500), meter) == FgdChoice(62, (0,))


def test_fgd_picks_the_lowest_index_among_equal_scores() -> None:
    meter = FragmentationMeter([(whole(1), 1.0)])
    node = NodeState("T4", 10_000, (300, 1000, 1000))
    # GPU 0 cannot take 500; GPUs 1 and 2 are equal: Δ = 300 - 800 = -500 -> 37, GPU 1.
    assert best_fgd_gpu(node, share(500), meter) == FgdChoice(37, (1,))


def test_fgd_steers_cpu_only_pods_away_from_nodes_whose_gpus_they_would_strand() -> None:
    meter = FragmentationMeter([(whole(1, cpu=8_000), 1.0)])
    node = NodeState("T4", 10_000, (1000, 1000))
    # Taking 4 cores leaves 6 < 8: the whole-GPU task no longer fits, F 0 -> 2000, Δ = -2.
    assert best_fgd_gpu(node, cpu_only(4_000), meter) == FgdChoice(11, ())  # int(11.92)


def test_fgd_whole_and_multi_gpu_pods_take_the_lowest_free_gpus() -> None:
    meter = FragmentationMeter([(share(500), 1.0)])
    node = NodeState("G2", 50_000, (600, 1000, 0, 1000, 1000))
    choice = best_fgd_gpu(node, whole(2), meter)
    assert choice.gpus == (1, 3)
    assert choice.score == 50  # F stays 0: every remaining GPU still takes 500
    with pytest.raises(ValueError, match="filter"):
        best_fgd_gpu(node, whole(4), meter)


def test_bestfit_score_truncates_the_weighted_leftover() -> None:
    node = NodeState.empty("G2", 64_000, 8)
    # s = 0.5 · 32000/128000 + 0.5 · 7000/8000 = 0.5625; 100 · 0.4375 = 43.75 -> 43.
    assert bestfit_score(node, Pod("p", 32_000, 1, 1000)) == 43
    assert bestfit_score(NodeState("G2", 0, (500,)), Pod("p", 0, 1, 500)) == 100
    with pytest.raises(ValueError):
        bestfit_score(node, Pod("p", 65_000, 1, 1000))


def test_normalize_scores_is_integer_min_max_scaling() -> None:
    assert normalize_scores([10, 20, 30]) == [0, 50, 100]
    assert normalize_scores([10, 15, 40]) == [0, 16, 100]  # 5 · 100 // 30 = 16
    assert normalize_scores([43, 43]) == [0, 0]
    assert normalize_scores([]) == []


def test_dotprod_score_prefers_the_smallest_dot_product() -> None:
    node = NodeState.empty("G2", 64_000, 8)
    # node (0.5, 1), pod (0.25, 0.125): dot 0.25, 100 · (1 - 0.125) = 87.5 -> 87.
    assert dotprod_score(node, Pod("p", 32_000, 1, 1000)) == 87
    assert dotprod_score(node, Pod("p", 65_000, 1, 1000)) == 0  # CPU does not fit


@pytest.mark.parametrize(("gpus", "expected"), [(8, 25), (4, 29), (2, 31), (1, 32)])
def test_gpu_packing_scores_an_idle_node_by_its_size(gpus: int, expected: int) -> None:
    assert gpu_packing_score(NodeState.empty("G2", 96_000, gpus), whole(1)) == expected


def test_gpu_packing_prefers_shared_gpus_then_free_gpus_on_used_nodes() -> None:
    node = NodeState("G2", 96_000, (500, 1000, 800, 1000))
    assert gpu_packing_score(node, share(300)) == 95  # GPU 0: 100 - (500·100//1000)//10
    assert gpu_packing_score(node, share(600)) == 92  # GPU 2: 100 - 80//10
    assert gpu_packing_score(node, whole(1)) == 49  # one fully free GPU used
    assert gpu_packing_score(node, whole(2)) == 48
    assert gpu_packing_score(node, cpu_only(1_000)) == 0
    assert gpu_packing_score(NodeState("G2", 1, (999, 1000)), share(990)) == 91


def test_gpu_clustering_tiers() -> None:
    node = NodeState("G2", 96_000, (1000, 1000, 1000, 1000, 0, 0, 0, 0))  # idle term 12
    pod = share(500)
    assert gpu_tag(pod) == "share-gpu" and gpu_tag(whole(2)) == "2-gpu"
    assert gpu_clustering_score(node, pod, {"share-gpu": 2}) == 75 + 12
    assert gpu_clustering_score(node, pod, {"share-gpu": 1, "1-gpu": 1}) == 50 + 12
    assert gpu_clustering_score(node, pod, {}) == 25 + 12
    assert gpu_clustering_score(node, pod, {"no-gpu": 3, "share-gpu": 0}) == 25 + 12
    assert gpu_clustering_score(node, pod, {"1-gpu": 3}) == 0 + 12
    assert gpu_clustering_score(node, cpu_only(1_000), {}) == 0
    full = NodeState("G2", 96_000, (0,) * 8)
    assert gpu_clustering_score(full, whole(1), {"1-gpu": 8}) == 100


def test_gpu_selection_rules() -> None:
    node = NodeState("G2", 96_000, (1000, 400, 1000, 300, 400))
    assert best_fit_gpu(node, share(300)) == (3,)
    assert best_fit_gpu(node, share(350)) == (1,)  # smallest left, ties to the lowest index
    assert best_fit_gpu(node, whole(2)) == (0, 2)
    assert best_fit_gpu(node, cpu_only(1)) == ()
    assert lowest_free_gpus(node, 1) == (0,)
    rng = random.Random(7)
    assert {random_fit_gpu(node, share(350), rng)[0] for _ in range(200)} == {0, 1, 2, 4}
    assert random_fit_gpu(node, whole(1), rng) == (0,)
    scores = random_scores(5, random.Random(1))
    assert sorted(scores) == [0, 0, 0, 0, 100]


# --------------------------------------------------------------------------------------------
# §2 steps 4-6: tuning and the node ranking


def gpu_total(pods: list[Pod]) -> int:
    return sum(p.num_gpu * p.gpu_milli for p in pods)


def test_tune_up_appends_named_clones_after_the_shuffled_originals() -> None:
    pods = [Pod(f"p{i}", 1_000, 1, 500) for i in range(4)]  # 2,000 of 4,000: 50%
    stream = tune(pods, 4_000, rng=random.Random(42))
    assert sorted(p.name for p in stream[:4]) == ["p0", "p1", "p2", "p3"]
    assert [p.name.split("-tuned-")[1] for p in stream[4:]] == ["0", "1", "2", "3", "4", "5"]
    assert gpu_total(stream) == 5_000  # 1.3 · 4000 = 5200: another 500 would pass it
    assert stream == tune(list(reversed(pods)), 4_000, rng=random.Random(42))


def test_tune_up_stops_on_the_per_gpu_request_not_the_total() -> None:
    pods = [Pod("eight", 8_000, 8, 1000)]
    # T = 1.3 · 8000 = 10400; the stop test adds 1000, so one clone is taken: 16,000.
    stream = tune(pods, 8_000, rng=random.Random(0))
    assert [p.name for p in stream] == ["eight", "eight-tuned-0"]


def test_tune_down_removes_pods_until_at_most_the_target() -> None:
    pods = [Pod(f"p{i}", 1_000, 2, 1000) for i in range(10)]  # 20,000 of 10,000
    stream = tune(pods, 10_000, rng=random.Random(3))
    assert gpu_total(stream) == 12_000  # the largest multiple of 2000 <= 13,000


class TuplePod(NamedTuple):
    name: str
    cpu_milli: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: frozenset[str] = frozenset()


def test_tune_copies_named_tuples_and_takes_a_clone_function() -> None:
    stream = tune([TuplePod("t", 1_000, 1, 1000)], 2_000, rng=random.Random(0))
    assert [p.name for p in stream] == ["t", "t-tuned-0"]  # T = 2600
    marked = tune(
        [Pod("p", 1_000, 1, 1000)],
        2_000,
        rng=random.Random(0),
        clone=lambda pod, name: Pod(name, pod.cpu_milli, pod.num_gpu, pod.gpu_milli, memory_mib=7),
    )
    assert [p.memory_mib for p in marked] == [0, 7]


def test_tune_refuses_workloads_without_gpu_requests_and_duplicate_names() -> None:
    with pytest.raises(ValueError, match="no pod requests a GPU"):
        tune([Pod("a", 1_000, 0, 0)], 1_000, rng=random.Random(0))
    with pytest.raises(ValueError, match="unique"):
        tune([Pod("a", 1_000, 1, 500)] * 2, 1_000, rng=random.Random(0))


def test_node_order_is_a_seeded_permutation_independent_of_input_order() -> None:
    names = [f"openb-node-{i:04d}" for i in range(50)]
    ranks = node_order(names, random.Random(42))
    assert sorted(ranks.values()) == list(range(50))
    assert ranks == node_order(reversed(names), random.Random(42))
    assert ranks != node_order(names, random.Random(43))


# --------------------------------------------------------------------------------------------
# §5: bookkeeping


def test_bucket_means_exact_x_then_falls_back_to_neighbours_then_none() -> None:
    log = RunLog()
    for used, arrived in [(0, 100), (100, 150), (150, 250), (200, 400)]:
        log.record(used_milli=used, arrived_milli=arrived, fragment_milli=used / 2)
    curve = bucket(log, 10_000)  # x: 1, 2 (1.5 to even), 2 (2.5 to even), 4
    assert set(curve) == set(ARRIVAL_AXIS)
    assert curve[0] == CurvePoint(0.0, 0.0, 0.0)  # no x = 0: the event at x = 1
    assert curve[1] == CurvePoint(0.0, 0.0, 0.0)
    point2 = curve[2]
    assert point2 is not None and point2.alloc_ratio == pytest.approx(1.25)
    point3 = curve[3]  # no x = 3: the three events at x = 2 and 4
    assert point3 is not None and point3.alloc_ratio == pytest.approx(1.5)
    assert point3.frag_amount == pytest.approx(0.75)
    assert curve[4] is not None and curve[5] == curve[4]  # no x = 5: the event at x = 4
    assert curve[6] is None


def test_run_log_refuses_arrivals_going_down() -> None:
    log = RunLog()
    log.record(used_milli=0, arrived_milli=10, fragment_milli=0.0)
    with pytest.raises(ValueError, match="went down"):
        log.record(used_milli=0, arrived_milli=5, fragment_milli=0.0)


def test_aggregate_gives_median_band_and_mean_sd_at_100() -> None:
    curves = [{100: CurvePoint(a, 0.0, 0.0), 101: None} for a in (90.0, 80.0, 60.0)]
    result = aggregate(curves, Metric.UNALLOCATED)  # 10, 20, 40
    band = result.bands[100]
    assert band is not None and band[:3] == (20.0, 15.0, 30.0) and band.runs == 3
    assert result.bands[101] is None and result.bands[0] is None
    assert result.at_100 is not None
    assert result.at_100.mean == pytest.approx(70 / 3)
    assert result.at_100.sd == pytest.approx(statistics.stdev([10, 20, 40]))
    single = aggregate(curves[:1], Metric.ALLOC_RATIO).at_100
    assert single is not None and math.isnan(single.sd)


def test_arrival_x_rounds_half_to_even() -> None:
    assert [arrival_x(a, 6_212_000) for a in (0, 31_060, 93_180, 6_212_000)] == [0, 0, 2, 100]


# --------------------------------------------------------------------------------------------
# Properties

MODELS = ("A", "B")
nodes = st.builds(
    NodeState,
    st.sampled_from(MODELS),
    st.integers(0, 128_000),
    st.lists(st.integers(0, 100).map(lambda v: v * 10), min_size=1, max_size=8).map(tuple),
)
specs = st.sampled_from([frozenset(), frozenset({"A"}), frozenset({"B"}), frozenset(MODELS)])


@st.composite
def tasks(draw: st.DrawFn) -> TaskType:
    cpu = draw(st.integers(0, 64_000))
    kind = draw(st.sampled_from(["cpu", "share", "whole"]))
    if kind == "cpu":
        return TaskType(cpu, 0, 0)
    if kind == "share":
        return TaskType(cpu, draw(st.integers(1, 999)), 1, draw(specs))
    return TaskType(cpu, 1000, draw(st.sampled_from([1, 2, 4, 8])), draw(specs))


workloads = st.lists(st.tuples(tasks(), st.floats(0.01, 1.0)), min_size=1, max_size=6)


@given(nodes, tasks())
def test_a_task_fragment_lies_between_zero_and_the_idle_gpu(
    node: NodeState, task: TaskType
) -> None:
    assert 0 <= task_fragment(node, task) <= node.idle_milli


@given(
    st.sampled_from(MODELS),
    st.integers(1, 8),
    st.integers(0, 128_000),
    st.integers(0, 128_000),
    st.sampled_from([1, 2, 4, 8]),
    specs,
)
def test_a_fitting_whole_gpu_task_sees_no_fragment_on_an_empty_node(
    model: str, gpus: int, node_cpu: int, task_cpu: int, k: int, spec: frozenset[str]
) -> None:
    node = NodeState.empty(model, max(node_cpu, task_cpu), max(gpus, k))
    task = whole(k, cpu=task_cpu, spec=spec | {model} if spec else spec)
    assert can_host(node, task)
    assert task_fragment(node, task) == 0


@given(nodes, workloads, st.randoms(use_true_random=False))
def test_the_meter_agrees_with_the_uncached_measure_and_ignores_gpu_order(
    node: NodeState, workload: list[tuple[TaskType, float]], rng: random.Random
) -> None:
    meter = FragmentationMeter(workload)
    value = node_fragment(node, workload)
    assert 0 <= value <= node.idle_milli * math.fsum(p for _, p in workload) + 1e-6
    assert meter.node_fragment(node) == value
    shuffled = list(node.gpu_left)
    rng.shuffle(shuffled)
    moved = NodeState(node.model, node.cpu_left, tuple(shuffled))
    assert meter.node_fragment(moved) == node_fragment(moved, workload) == value


tag_counts = st.dictionaries(st.sampled_from(["share-gpu", "1-gpu", "no-gpu"]), st.integers(0, 3))


@given(nodes, tasks(), workloads, tag_counts)
def test_every_score_is_an_integer_in_0_to_100(
    node: NodeState, pod: TaskType, workload: list[tuple[TaskType, float]], tags: dict[str, int]
) -> None:
    if not can_host(node, pod):
        return
    choice = best_fgd_gpu(node, pod, FragmentationMeter(workload))
    scores = [
        choice.score,
        bestfit_score(node, pod),
        dotprod_score(node, pod),
        gpu_packing_score(node, pod),
        gpu_clustering_score(node, pod, tags),
    ]
    assert all(isinstance(s, int) and 0 <= s <= 100 for s in scores)
    assert len(choice.gpus) == pod.num_gpu
    assert all(node.gpu_left[g] >= pod.gpu_milli for g in choice.gpus)
    assert set(best_fit_gpu(node, pod)) <= set(range(len(node.gpu_left)))


@given(st.lists(st.integers(0, 100), min_size=1, max_size=20))
def test_normalized_scores_stay_in_range_and_keep_their_order(scores: list[int]) -> None:
    normalized = normalize_scores(scores)
    assert all(0 <= s <= 100 for s in normalized)
    for a, na in zip(scores, normalized, strict=True):
        for b, nb in zip(scores, normalized, strict=True):
            assert a > b or na <= nb
    if len(set(scores)) > 1:
        assert max(normalized) == 100 and min(normalized) == 0


pods_lists = st.lists(
    st.one_of(
        st.builds(lambda c: (c, 0, 0), st.integers(0, 8_000)),
        st.builds(lambda c, m: (c, 1, m), st.integers(0, 8_000), st.integers(50, 1000)),
        st.builds(lambda c, k: (c, k, 1000), st.integers(0, 8_000), st.sampled_from([2, 4, 8])),
    ),
    min_size=1,
    max_size=40,
).map(lambda shapes: [Pod(f"p{i:03d}", *shape) for i, shape in enumerate(shapes)])


@settings(max_examples=60)
@given(pods_lists, st.integers(1, 40).map(lambda g: g * 1000), st.integers(0, 2**32))
def test_tuning_ends_within_one_pod_of_the_target_and_never_above_it_when_tuning_down(
    pods: list[Pod], capacity: int, seed: int
) -> None:
    if gpu_total(pods) == 0:
        return
    target = 1.3 * capacity
    stream = tune(pods, capacity, rng=random.Random(seed))
    total = gpu_total(stream)
    assert len({p.name for p in stream}) == len(stream)
    if gpu_total(pods) > target:
        assert total <= target
        assert total + max(p.num_gpu * p.gpu_milli for p in pods) > target
    elif gpu_total(pods) < target:
        assert sorted(p.name for p in stream[: len(pods)]) == sorted(p.name for p in pods)
        overshoot = max((p.num_gpu - 1) * p.gpu_milli for p in pods)
        assert target - 1000 < total <= target + overshoot
    else:
        assert total == gpu_total(pods) and len(stream) == len(pods)
    assert stream == tune(pods, capacity, rng=random.Random(seed))


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=60))
def test_a_bucketed_curve_rises_with_x_when_the_run_only_adds_pods(
    steps: list[tuple[int, int]],
) -> None:
    log = RunLog()
    used = arrived = 0
    for add_arrived, add_used in steps:
        arrived += add_arrived
        used = min(used + add_used, arrived)
        log.record(used_milli=used, arrived_milli=arrived, fragment_milli=0.0)
    curve = bucket(log, 10_000)
    assert list(curve) == list(ARRIVAL_AXIS)
    values = [p.alloc_ratio for p in curve.values() if p is not None]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(values))
    assert all(p is None or 0 <= p.alloc_ratio <= 100 for p in curve.values())
