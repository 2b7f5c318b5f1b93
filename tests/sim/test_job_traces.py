"""Batch-job traces: the ITP ElasticFlow loader (the published counts, gang sizes, GPU-hours and
peaks per cluster; gangs split into 8-GPU workers; malformed rows named by file, line and
column), Helios' VC quotas as tenants (the published sizes; the seeded choice; rescaling), the
DLRM trace as one-worker jobs of its apps, and the seeded synthetic generator (the same seed
gives the same trace; its draws follow its parameters).

Tests that need the real traces read `../shared/traces` beside the repository and skip, saying
so, where it is absent (a user's clone has no `../shared`).
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.errors import InputError, Problem
from dralloc.sim.traces import dlrm, helios, itp
from dralloc.sim.traces.job_resolve import resolve_job_trace
from dralloc.sim.traces.jobs import (
    BatchJob,
    Tenant,
    assign_tenants,
    gang_histogram,
    peak_gpus,
    split_gang,
)
from dralloc.sim.traces.synthetic_jobs import SyntheticJobs, generate_jobs

SHARED_TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"
ITP = SHARED_TRACES / itp.FOLDER_NAME
HELIOS = SHARED_TRACES / helios.FOLDER_NAME
needs_itp = pytest.mark.skipif(
    not (ITP / "cluster01.csv").is_file(),
    reason=f"the ITP ElasticFlow trace is not at {ITP} (this clone has no ../shared)",
)
needs_helios = pytest.mark.skipif(
    not (HELIOS / "Venus" / "cluster_gpu_number.csv").is_file(),
    reason=f"the Helios VC quotas are not at {HELIOS} (this clone has no ../shared)",
)
needs_dlrm = pytest.mark.skipif(
    not (SHARED_TRACES / dlrm.FOLDER_NAME / dlrm.FILE_NAME).is_file(),
    reason=f"the DLRM trace is not at {SHARED_TRACES / dlrm.FOLDER_NAME} (no ../shared)",
)
SIZES = (1, 2, 4, 8, 16, 32, 64)

# itp-elasticflow/README.md, "Statistics": jobs, jobs per GPU count (1/2/4/8/16/32/64),
# GPU-hours, peak zero-wait GPUs.
ITP_CLUSTERS = {
    1: (1595, (1530, 11, 6, 5, 6, 11, 26), 22740, 330),
    2: (5778, (4937, 102, 301, 352, 36, 36, 14), 123748, 346),
    3: (3011, (1014, 85, 0, 1777, 94, 24, 17), 165443, 1379),
    4: (15802, (11924, 125, 532, 2779, 182, 254, 6), 705683, 2025),
    5: (3629, (3465, 50, 37, 77, 0, 0, 0), 14303, 341),
    6: (2396, (1073, 6, 148, 1082, 59, 20, 8), 123879, 516),
    7: (12699, (9854, 836, 1071, 936, 2, 0, 0), 366800, 1903),
    8: (13047, (12558, 217, 262, 1, 0, 9, 0), 67100, 282),
    9: (11134, (11134, 0, 0, 0, 0, 0, 0), 39001, 118),
    10: (260, (193, 51, 14, 0, 2, 0, 0), 4023, 52),
}
ITP_ALL_HISTOGRAM = (57682, 1483, 2371, 7009, 381, 354, 71)


def histogram_of(jobs: list[BatchJob] | tuple[BatchJob, ...]) -> tuple[int, ...]:
    counts = gang_histogram(jobs)
    return tuple(counts.get(size, 0) for size in SIZES)


# --------------------------------------------------------------------------------------------
# The model


@pytest.mark.parametrize(
    ("num_gpu", "node_gpus", "expected"),
    [
        (1, 8, (1, 1)),
        (4, 8, (1, 4)),
        (8, 8, (1, 8)),
        (16, 8, (2, 8)),
        (64, 8, (8, 8)),
        (12, 8, None),
        (12, 4, (3, 4)),
        (6, 4, None),
    ],
)
def test_a_job_over_a_node_becomes_a_gang_of_whole_node_workers(
    num_gpu: int, node_gpus: int, expected: tuple[int, int] | None
) -> None:
    assert split_gang(num_gpu, node_gpus) == expected


def test_peak_gpus_frees_a_job_ending_before_one_arriving_at_the_same_time() -> None:
    jobs = [
        BatchJob("a", 0.0, 10.0, 1, 4),
        BatchJob("b", 10.0, 5.0, 2, 8),
        BatchJob("c", 12.0, None, 1, 2),
    ]
    assert peak_gpus(jobs) == 18


def test_tenants_are_drawn_in_proportion_to_their_quota_and_the_seed_fixes_the_draw() -> None:
    jobs = [BatchJob(f"j{i}", float(i), 1.0, 1, 1) for i in range(4000)]
    tenants = [Tenant("big", 300), Tenant("small", 100), Tenant("none", 0)]
    first = assign_tenants(jobs, tenants, random.Random(5))
    assert first == assign_tenants(jobs, tenants, random.Random(5))
    counts = Counter(j.tenant for j in first)
    assert counts["none"] == 0
    share = counts["big"] / len(jobs)
    assert abs(share - 0.75) < 5 * math.sqrt(0.75 * 0.25 / len(jobs))
    uniform = Counter(j.tenant for j in assign_tenants(jobs, tenants, random.Random(5), "uniform"))
    assert all(abs(n / len(jobs) - 1 / 3) < 0.04 for n in uniform.values())


# --------------------------------------------------------------------------------------------
# ITP ElasticFlow: the real trace


@needs_itp
def test_all_ten_itp_clusters_load_with_the_readmes_counts_and_gang_sizes() -> None:
    trace = resolve_job_trace("itp-elasticflow:tenants=clusters", SHARED_TRACES)
    assert len(trace.jobs) == 69_351
    assert histogram_of(trace.jobs) == ITP_ALL_HISTOGRAM
    assert round(sum(j.total_gpus * (j.duration or 0) for j in trace.jobs) / 3600) == 1_632_720
    arrivals = [j.arrival for j in trace.jobs]
    assert arrivals == sorted(arrivals)
    assert min(arrivals) == 1999 and max(j.end or 0 for j in trace.jobs) == 5_183_879
    assert min(j.duration or 0 for j in trace.jobs) == 600
    assert len({j.trace_id for j in trace.jobs}) == len({j.name for j in trace.jobs}) == 69_351
    # 16, 32 and 64 GPUs are gangs of 2, 4 and 8 workers of 8 GPUs; the rest one pod.
    shapes = Counter((j.workers, j.gpus_per_worker) for j in trace.jobs)
    assert shapes == {
        (1, 1): 57682,
        (1, 2): 1483,
        (1, 4): 2371,
        (1, 8): 7009,
        (2, 8): 381,
        (4, 8): 354,
        (8, 8): 71,
    }
    assert [t.name for t in trace.tenants] == [f"cluster{c:02d}" for c in range(1, 11)]


@needs_itp
@pytest.mark.parametrize("cluster", sorted(ITP_CLUSTERS))
def test_each_itp_cluster_has_the_readmes_jobs_gpu_hours_and_peak(cluster: int) -> None:
    count, sizes, gpu_hours, peak = ITP_CLUSTERS[cluster]
    trace = resolve_job_trace(f"itp-elasticflow:cluster={cluster},tenants=clusters", SHARED_TRACES)
    assert len(trace.jobs) == count
    assert histogram_of(trace.jobs) == sizes
    assert round(sum(j.total_gpus * (j.duration or 0) for j in trace.jobs) / 3600) == gpu_hours
    assert peak_gpus(trace.jobs) == peak
    # One tenant, its quota the peak in whole 8-GPU nodes.
    (tenant,) = trace.tenants
    assert (tenant.name, tenant.gpu_quota) == (f"cluster{cluster:02d}", 8 * math.ceil(peak / 8))
    assert {j.tenant for j in trace.jobs} == {f"cluster{cluster:02d}"}


@needs_itp
@needs_helios
def test_itp_jobs_go_to_helios_vcs_by_quota_and_the_seed_fixes_the_assignment() -> None:
    workload = "itp-elasticflow:cluster=4,tenants=venus,vcs=6,seed=3"
    trace = resolve_job_trace(workload, SHARED_TRACES)
    again = resolve_job_trace(workload, SHARED_TRACES)
    other = resolve_job_trace(workload.replace("seed=3", "seed=4"), SHARED_TRACES)
    assert trace.jobs == again.jobs and trace.tenants == again.tenants
    assert trace.jobs != other.jobs
    assert len(trace.tenants) == 6
    assert [t.gpu_quota for t in trace.tenants] == sorted(
        (t.gpu_quota for t in trace.tenants), reverse=True
    )
    counts = Counter(j.tenant for j in trace.jobs)
    total = trace.total_quota
    for tenant in trace.tenants:
        p = tenant.gpu_quota / total
        assert abs(counts[tenant.name] / len(trace.jobs) - p) < 5 * math.sqrt(
            p * (1 - p) / len(trace.jobs)
        )
    assert "seed 3" in trace.notes[1]


@needs_itp
@needs_helios
def test_itp_quotas_rescale_to_the_total_asked_for_in_whole_nodes() -> None:
    trace = resolve_job_trace(
        "itp-elasticflow:cluster=10,tenants=earth,quota_total=256", SHARED_TRACES
    )
    assert trace.total_quota == 256
    assert all(t.gpu_quota % 8 == 0 and t.gpu_quota >= 8 for t in trace.tenants)
    assert len(trace.tenants) == 19


# --------------------------------------------------------------------------------------------
# ITP ElasticFlow: malformed files


def write_cluster(folder: Path, cluster: int, *rows: str) -> Path:
    path = folder / itp.cluster_file(cluster)
    path.write_text("\n".join(["job_id,submission_time,duration,num_gpu", *rows]) + "\n")
    return path


def test_malformed_itp_rows_are_each_named_by_file_line_and_column(tmp_path: Path) -> None:
    path = write_cluster(
        tmp_path,
        1,
        "a,10,600,1",
        "b,-5,600,1",  # line 3
        "c,11,0,1",  # line 4
        "d,12,600,12",  # line 5
        "a,13,600,1",  # line 6
        "e,x,600,2",  # line 7
        "f,14,600",  # line 8
        ",15,600,1",  # line 9
    )
    file = str(path)
    with pytest.raises(InputError) as err:
        itp.load_clusters(tmp_path, [1])
    assert sorted(err.value.problems) == sorted(
        [
            Problem(file, "line 3", "submission_time", "must be ≥ 0, got -5"),
            Problem(file, "line 4", "duration", "must be ≥ 1, got 0"),
            Problem(
                file,
                "line 5",
                "num_gpu",
                "12 GPUs cannot be split into equal workers of nodes of 8 GPUs",
            ),
            Problem(file, "line 6", "job_id", f"duplicate job 'a', first at {file}:2"),
            Problem(
                file,
                "line 7",
                "submission_time",
                "not a whole number: 'x', expected a whole number ≥ 0",
            ),
            Problem(file, "line 8", "num_gpu", "missing: the row ends after 3 of 4 fields"),
            Problem(file, "line 9", "job_id", "empty, expected the job's id"),
        ]
    )


def test_a_job_id_repeated_in_another_cluster_file_is_named_with_both_places(
    tmp_path: Path,
) -> None:
    first = write_cluster(tmp_path, 1, "a,10,600,1")
    second = write_cluster(tmp_path, 2, "b,10,600,1", "a,11,600,1")
    with pytest.raises(InputError) as err:
        itp.load_clusters(tmp_path, [1, 2])
    assert err.value.problems == [
        Problem(str(second), "line 3", "job_id", f"duplicate job 'a', first at {first}:2")
    ]


def test_a_wrong_itp_header_is_named_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "cluster01.csv"
    path.write_text("job_id,submit_time,duration,num_gpu\na,1,600,1\n")
    with pytest.raises(InputError) as err:
        itp.load_clusters(tmp_path, [1])
    (problem,) = err.value.problems
    assert (problem.file, problem.obj, problem.field) == (str(path), "line 1", "submission_time")


def test_a_small_itp_folder_loads_merged_in_arrival_order(tmp_path: Path) -> None:
    write_cluster(tmp_path, 1, "a,30,600,16", "b,40,700,1")
    write_cluster(tmp_path, 2, "c,20,800,4")
    for cluster in range(3, 11):
        write_cluster(tmp_path, cluster)
    trace = resolve_job_trace("itp-elasticflow:tenants=clusters", tmp_path)
    assert [(j.name, j.arrival, j.workers, j.gpus_per_worker) for j in trace.jobs] == [
        ("itp-c02-00000", 20.0, 1, 4),
        ("itp-c01-00000", 30.0, 2, 8),
        ("itp-c01-00001", 40.0, 1, 1),
    ]
    assert trace.jobs[1].trace_id == "a" and trace.jobs[1].line == 2


@pytest.mark.parametrize(
    ("workload", "field", "message"),
    [
        ("itp-elasticflow:cluster=11", "cluster", "must be 0 (all) or 1-10, got 11"),
        ("itp-elasticflow:tenants=mars", "tenants", "must be clusters, venus or earth, got 'mars'"),
        ("itp-elasticflow:weighting=size", "weighting", "must be quota or uniform, got 'size'"),
        ("itp-elasticflow:vcs=-1", "vcs", "must be ≥ 0, got -1"),
    ],
)
def test_bad_itp_options_are_named(workload: str, field: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        resolve_job_trace(workload, "/nonexistent")
    assert err.value.problems == [Problem("", f"--trace {workload}", field, message)]


def test_the_itp_trace_needs_a_trace_dir_holding_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pass --trace-dir"):
        resolve_job_trace("itp-elasticflow", None)
    with pytest.raises(InputError, match="must hold the ITP trace"):
        resolve_job_trace("itp-elasticflow", tmp_path)
    with pytest.raises(InputError, match="unknown job workload 'philly'"):
        resolve_job_trace("philly", tmp_path)


# --------------------------------------------------------------------------------------------
# Helios VC quotas


@needs_helios
@pytest.mark.parametrize(
    ("cluster", "sizes", "totals", "first_last", "changes"),
    [
        (
            "venus",
            [256, 160, 88, 88, 80, 72, 64, 64, 48, 40, 32, 32, 24, 16, 8, 8],
            (968, 1264),
            (968, 1080),
            5,
        ),
        (
            "earth",
            [216, 176, 96, 96, 72, 64, 64, 64, 64, 56, 40, 40, 40, 32, 32, 16, 16, 16, 8],
            (784, 1232),
            (784, 1208),
            12,
        ),
    ],
)
def test_helios_quotas_read_as_the_readme_states(
    cluster: str,
    sizes: list[int],
    totals: tuple[int, int],
    first_last: tuple[int, int],
    changes: int,
) -> None:
    quotas = helios.load_vc_quotas(SHARED_TRACES, cluster)
    assert len(quotas.days) == 181 and len(quotas.vcs) == 25
    assert (quotas.days[0], quotas.days[-1]) == ("2020-04-01", "2020-09-28")
    day_totals = [sum(quotas.quota[day]) for day in quotas.days]
    assert (min(day_totals), max(day_totals)) == totals
    assert (day_totals[0], day_totals[-1]) == first_last
    assert sum(a != b for a, b in pairwise(day_totals)) == changes
    assert all(v % 8 == 0 for day in quotas.days for v in quotas.quota[day])
    tenants = helios.tenants_on(quotas, None, 0, random.Random(1))
    assert [t.gpu_quota for t in tenants] == sizes
    assert all(t.source.endswith("@2020-09-28") for t in tenants)


@needs_helios
def test_helios_vcs_are_drawn_by_the_seed_and_the_anomalous_day_is_refused() -> None:
    quotas = helios.load_vc_quotas(SHARED_TRACES, "earth")
    every = set(helios.tenants_on(quotas, None, 0, random.Random(1)))
    drawn = helios.tenants_on(quotas, None, 5, random.Random(7))
    assert drawn == helios.tenants_on(quotas, None, 5, random.Random(7))
    assert len(drawn) == 5 and set(drawn) <= every
    assert drawn != helios.tenants_on(quotas, None, 5, random.Random(8))
    with pytest.raises(InputError, match="2020-05-09 is an anomaly"):
        helios.tenants_on(quotas, "2020-05-09", 0, random.Random(1))
    with pytest.raises(InputError, match="no row for 2021-01-01"):
        helios.tenants_on(quotas, "2021-01-01", 0, random.Random(1))
    with pytest.raises(InputError, match="20 VCs asked for, 19 have GPUs"):
        helios.tenants_on(quotas, None, 20, random.Random(1))


def test_malformed_helios_rows_are_named_by_file_line_and_column() -> None:
    text = (
        "date,vcA,vcB,total\n"
        "2020-04-01,8,16,24\n"
        "2020-04-02,8,16,32\n"
        "2020-04-01,8,16,24\n"
        "April 4,8,16,24\n"
        "2020-04-05,8,x,8\n"
    )
    with pytest.raises(InputError) as err:
        helios.parse_vc_quotas(text, "q.csv", "venus")
    assert err.value.problems == [
        Problem("q.csv", "line 3", "total", "32 is not the sum of the VC columns, 24"),
        Problem("q.csv", "line 4", "date", "day 2020-04-01 again, first on line 2"),
        Problem("q.csv", "line 5", "date", "expected a date YYYY-MM-DD, got 'April 4'"),
        Problem("q.csv", "line 6", "vcB", "not a whole number: 'x', expected a whole number ≥ 0"),
    ]
    with pytest.raises(InputError, match="the header must be date"):
        helios.parse_vc_quotas("day,vcA,total\n", "q.csv", "venus")


@settings(max_examples=200, deadline=None)
@given(
    quotas=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=30),
    total=st.integers(min_value=1, max_value=4000),
    granularity=st.sampled_from([1, 8]),
)
def test_rescaled_quotas_sum_to_the_total_in_whole_units_and_keep_their_order(
    quotas: list[int], total: int, granularity: int
) -> None:
    tenants = [Tenant(f"t{i}", q) for i, q in enumerate(quotas)]
    if not any(quotas):
        assert helios.scale_quotas(tenants, total, granularity) == tuple(tenants)
        return
    scaled = helios.scale_quotas(tenants, total, granularity)
    sizes = [t.gpu_quota for t in scaled]
    assert all(s % granularity == 0 and s >= granularity for s in sizes)
    assert sum(sizes) == granularity * max(total // granularity, len(tenants))
    for a, b in zip(quotas, sizes, strict=True):
        for c, d in zip(quotas, sizes, strict=True):
            if a > c:
                assert b >= d


# --------------------------------------------------------------------------------------------
# DLRM as jobs


@needs_dlrm
def test_the_dlrm_gpu_instances_become_one_worker_jobs_of_their_apps() -> None:
    trace = resolve_job_trace("dlrm-jobs", SHARED_TRACES)
    assert len(trace.jobs) == 7_386 and len(trace.tenants) == 156
    assert all(j.workers == 1 and j.gpus_per_worker == 1 for j in trace.jobs)
    assert {j.tenant for j in trace.jobs} == {t.name for t in trace.tenants}
    for tenant in trace.tenants[:5]:
        assert tenant.gpu_quota == peak_gpus(trace.jobs_of(tenant.name))
    assert any(j.duration is None for j in trace.jobs)
    scaled = resolve_job_trace("dlrm-jobs:quota_total=500", SHARED_TRACES)
    assert scaled.total_quota == 500


# --------------------------------------------------------------------------------------------
# The synthetic generator


def test_the_same_synthetic_options_give_the_same_jobs_and_another_seed_others() -> None:
    first = generate_jobs("synthetic-jobs:jobs=300,seed=3")
    again = generate_jobs("synthetic-jobs:jobs=300,seed=3")
    other = generate_jobs("synthetic-jobs:jobs=300,seed=4")
    assert first.jobs == again.jobs and first.tenants == again.tenants
    assert first.jobs != other.jobs


def test_the_synthetic_defaults_are_the_documented_ones() -> None:
    trace = generate_jobs("synthetic-jobs")
    defaults = SyntheticJobs()
    assert len(trace.jobs) == defaults.jobs == 2000
    assert [t.name for t in trace.tenants] == ["team-a", "team-b", "team-c", "team-d"]
    assert all(t.gpu_quota in (32, 64, 128, 256) for t in trace.tenants)
    assert all(j.duration is not None and j.duration >= 600 for j in trace.jobs)
    assert {j.priority for j in trace.jobs} == {0}
    assert set(gang_histogram(trace.jobs)) <= set(SIZES)
    assert all(j.gpus_per_worker == 8 for j in trace.jobs if j.is_gang)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    rate=st.sampled_from([0.001, 0.0134, 0.5]),
    median=st.sampled_from([600.0, 3600.0, 10537.0]),
    sigma=st.sampled_from([0.5, 1.2, 2.0]),
    tenants=st.integers(min_value=1, max_value=8),
)
def test_synthetic_draws_follow_their_parameters(
    seed: int, rate: float, median: float, sigma: float, tenants: int
) -> None:
    n = 3000
    trace = generate_jobs(
        f"synthetic-jobs:jobs={n},seed={seed},rate={rate},median={median},sigma={sigma},"
        f"tenants={tenants},min_duration=0,priorities=0|10"
    )
    jobs = trace.jobs
    assert len(jobs) == n and len(trace.tenants) == tenants
    # Poisson arrivals: the mean gap is 1/rate (exponential gaps: deviation 1/rate).
    gaps = [b.arrival - a.arrival for a, b in pairwise(jobs)]
    assert all(g >= 0 for g in gaps)
    assert abs(statistics.fmean(gaps) * rate - 1) < 5 / math.sqrt(n)
    # Lognormal durations: log-durations have mean ln(median) and deviation sigma.
    logs = [math.log(j.duration or 1) for j in jobs]
    assert abs(statistics.fmean(logs) - math.log(median)) < 5 * sigma / math.sqrt(n)
    assert abs(statistics.stdev(logs) / sigma - 1) < 0.1
    # Sizes by the ITP weights; tenants by quota; priorities uniform.
    weights = [int(w) for w in SyntheticJobs().weights.split("|")]
    counts = histogram_of(jobs)
    for weight, count in zip(weights, counts, strict=True):
        p = weight / sum(weights)
        assert abs(count / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9
    by_tenant = Counter(j.tenant for j in jobs)
    quota = {t.name: t.gpu_quota for t in trace.tenants}
    for name, q in quota.items():
        p = q / sum(quota.values())
        assert abs(by_tenant[name] / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9
    share_high = sum(j.priority == 10 for j in jobs) / n
    assert abs(share_high - 0.5) < 5 * math.sqrt(0.25 / n)


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ("jobs=-1", "jobs", "must be ≥ 0, got -1"),
        ("rate=0", "rate", "must be > 0, got 0.0"),
        ("gpus=1|12", "gpus", "12 GPUs cannot be split into workers of node_gpus=8"),
        ("gpus=1|2,weights=1", "weights", "1 weights for 2 values of gpus"),
        ("quotas=0", "quotas", "expected GPU counts ≥ 1 (a|b|...), got '0'"),
        ("priorities=high", "priorities", "expected whole numbers (a|b|...), got 'high'"),
        ("weighting=size", "weighting", "must be quota or uniform, got 'size'"),
    ],
)
def test_bad_synthetic_options_are_named(options: str, field: str, message: str) -> None:
    workload = f"synthetic-jobs:{options}"
    with pytest.raises(InputError) as err:
        generate_jobs(workload)
    assert Problem("", f"--trace {workload}", field, message) in err.value.problems
