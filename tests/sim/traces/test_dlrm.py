"""The DLRM trace loader: rows to instances (units, missing times), malformed rows reported
with file, line and column, the derived cluster (peak demand, scale, explicit counts), the
options, where the file is looked for, and the real trace's counts.

Tests that need the real trace read `../shared/traces` beside the repository and skip,
saying so, where it is absent (a user's clone has no `../shared`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dralloc.errors import InputError
from dralloc.sim.replay import PodState, replay
from dralloc.sim.traces.dlrm import (
    COLUMNS,
    FILE_NAME,
    FOLDER_NAME,
    DlrmCluster,
    DlrmInstance,
    Role,
    parse_instances,
    replay_trace,
    resolve_dlrm,
    timed_pod,
    trace_pod,
)
from dralloc.sim.traces.model import TracePod
from dralloc.sim.traces.timeline import TimedPod

SHARED_TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "traces"
needs_trace = pytest.mark.skipif(
    not (SHARED_TRACES / FOLDER_NAME / FILE_NAME).is_file(),
    reason=f"the DLRM trace is not at {SHARED_TRACES / FOLDER_NAME} (this clone has no ../shared)",
)
HEADER = ",".join(COLUMNS)


def row(
    name: str,
    role: str = "HN",
    cpu: str = "8",
    gpu: str = "1",
    memory: str = "40.0",
    created: str = "",
    deleted: str = "",
    limit: str = "-1",
) -> str:
    scheduled = created
    cells = [name, role, "app_0", cpu, cpu, gpu, gpu, "25", "25", memory, memory]
    cells += ["85.0", "100.0", limit, created, scheduled, deleted]
    return ",".join(cells)


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


SMALL = csv_text(
    row("i0", deleted="100"),
    row("i1", cpu="12", memory="120.0", created="50"),
    row("i2", created="100.0000000002", deleted="200"),
    row("c0", role="CN", cpu="64", gpu="0", memory="320.0", created="10", deleted="20"),
)


def test_rows_become_instances_in_milli_cores_mib_and_seconds() -> None:
    instances = parse_instances(SMALL, "dlrm.csv")
    assert instances[1] == DlrmInstance(
        "i1", Role.HN, "app_0", 12000, 122880, 1, 50.0, 50.0, None,
        cpu_limit=12.0, memory_limit=120.0, gpu_limit=1, rdma_request=25.0, rdma_limit=25.0,
        disk_request=85.0, disk_limit=100.0, max_instance_per_node=None, line=3,
    )  # fmt: skip
    assert instances[0].creation_time is None and instances[0].deletion_time == 100
    assert instances[3].role is Role.CN and instances[3].gpus == 0
    assert [i.line for i in instances] == [2, 3, 4, 5]


def test_an_instance_converts_to_whole_gpus_of_any_model_on_its_own_clock() -> None:
    i0, i1, _, c0 = parse_instances(SMALL, "dlrm.csv")
    assert trace_pod(i1) == TracePod("i1", 12000, 122880, 1, 1000)
    assert trace_pod(i1).line == 3 and trace_pod(i1).gpu_spec == frozenset()
    assert trace_pod(c0) == TracePod("c0", 64000, 327680, 0, 0)
    # No creation time: it arrives at 0 and runs until its deletion.
    assert timed_pod(i0) == TimedPod(TracePod("i0", 8000, 40960, 1, 1000), 0.0, 100.0)
    # No deletion time: it never ends.
    assert (timed_pod(i1).arrival, timed_pod(i1).duration) == (50.0, None)


def test_the_per_node_limit_is_kept_on_the_record() -> None:
    (instance,) = parse_instances(csv_text(row("i", limit="3")), "f.csv")
    assert instance.max_instance_per_node == 3


def test_half_a_gib_is_a_whole_number_of_mib() -> None:
    (instance,) = parse_instances(csv_text(row("c", "CN", "192", "0", "937.5")), "f.csv")
    assert instance.memory_mib == 960000


def test_every_malformed_row_is_reported_with_file_line_and_column() -> None:
    text = csv_text(
        row("ok"),
        row("b1", role="GPU"),
        row("b2", cpu="eight"),
        row("b3", cpu="0.0001"),
        row("b4", role="CN"),
        row("b5", gpu="0"),
        row("b6", created="30", deleted="20"),
        row("ok"),
        row("b8", limit="0"),
        row("b9", memory="-1"),
        row("b10", created="soon"),
        "b11,HN,app_0",
        "",
        row("b13", gpu="1.5"),
    )
    with pytest.raises(InputError) as caught:
        parse_instances(text, "dlrm.csv")
    assert str(caught.value).splitlines() == [
        "dlrm.csv: line 3: role: unknown value 'GPU', expected CN or HN",
        "dlrm.csv: line 4: cpu_limit: not a number: 'eight'",
        "dlrm.csv: line 4: cpu_request: not a number: 'eight'",
        "dlrm.csv: line 5: cpu_request: 0.0001 is not a whole number of milli-cores",
        "dlrm.csv: line 6: gpu_request: must be 0 on a CN instance, got 1",
        "dlrm.csv: line 7: gpu_request: must be ≥ 1 on an HN instance, got 0",
        "dlrm.csv: line 8: deletion_time: 20 is before creation_time 30",
        "dlrm.csv: line 9: instance_sn: duplicate instance 'ok', first on line 2",
        "dlrm.csv: line 10: max_instance_per_node: expected -1 or a count ≥ 1, got '0'",
        "dlrm.csv: line 11: memory_limit: must be a finite number ≥ 0, got '-1'",
        "dlrm.csv: line 11: memory_request: must be a finite number ≥ 0, got '-1'",
        "dlrm.csv: line 12: creation_time: not a number: 'soon'",
        "dlrm.csv: line 12: scheduled_time: not a number: 'soon'",
        "dlrm.csv: line 13: the row has 3 fields, expected 17",
        "dlrm.csv: line 14: blank line: every line after the header is a row",
        "dlrm.csv: line 15: gpu_limit: expected a whole number of GPUs ≥ 0, got '1.5'",
        "dlrm.csv: line 15: gpu_request: expected a whole number of GPUs ≥ 0, got '1.5'",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "dlrm.csv: line 1: the file is empty, expected the header instance_sn,"),
        ("instance_sn,role\n", "dlrm.csv: line 1: the header must be instance_sn,role,app_name,"),
        (HEADER + '\n"unterminated\n', "dlrm.csv: line 2: not valid CSV"),
    ],
)
def test_a_file_that_is_not_the_trace_says_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_instances(text, "dlrm.csv")
    assert str(caught.value).startswith(message)


def test_missing_times_mean_before_the_window_and_never_ending() -> None:
    trace = replay_trace("dlrm", parse_instances(SMALL, "f.csv"), DlrmCluster(), "f.csv")
    assert [(t.pod.name, t.arrival, t.duration) for t in trace.pods] == [
        ("i0", 0.0, 100.0),
        ("i1", 50.0, None),
        ("i2", pytest.approx(100.0), pytest.approx(100.0)),
    ]
    assert [(t.pod.cpu_milli, t.pod.num_gpu, t.pod.gpu_milli) for t in trace.pods][:2] == [
        (8000, 1, 1000),
        (12000, 1, 1000),
    ]


def test_the_cluster_holds_the_peak_of_concurrent_demand() -> None:
    # HN peak: i0 and i1 from 50 to 100, then i1 and i2 (i0 leaves as i2 arrives):
    # 2 GPUs, 20 vCPU, 160 GiB.
    instances = parse_instances(SMALL, "f.csv")

    def hn_nodes(cluster: DlrmCluster) -> int:
        return len(replay_trace("dlrm", instances, cluster, "f.csv").nodes)

    assert hn_nodes(DlrmCluster()) == 1  # 2/8 GPUs
    assert hn_nodes(DlrmCluster(gpus=1)) == 2
    assert hn_nodes(DlrmCluster(gpus=1, scale=1.5)) == 3
    assert hn_nodes(DlrmCluster(hn_cpu=16)) == 2  # 20 vCPU
    assert hn_nodes(DlrmCluster(hn_memory=120)) == 2  # 160 GiB
    assert hn_nodes(DlrmCluster(hn_nodes=5)) == 5
    trace = replay_trace("dlrm", instances, DlrmCluster(), "f.csv")
    (node,) = trace.nodes
    assert (node.name, node.gpus, node.model, node.cpu_milli, node.memory_mib) == (
        "dlrm-hn-0000",
        8,
        "a10",
        128000,
        1048576,
    )
    assert trace.models.model("a10").name == "a10"
    assert trace.notes == (
        "3 of 4 instances replayed (roles=HN)",
        "1 instances of other roles not replayed (roles=all adds them)",
        "1 HN nodes (8 x a10, 128 vCPU, 1024 GiB each)",
    )


def test_roles_all_adds_cpu_nodes_for_the_cpu_instances() -> None:
    instances = parse_instances(SMALL, "f.csv")
    trace = replay_trace("dlrm", instances, DlrmCluster(roles="all"), "f.csv")
    assert [n.name for n in trace.nodes] == ["dlrm-cn-0000", "dlrm-hn-0000"]
    assert trace.nodes[0].gpus == 0 and trace.nodes[0].model is None
    assert len(trace.pods) == 4
    only_cpu = replay_trace("dlrm", instances, DlrmCluster(roles="CN"), "f.csv")
    assert [t.pod.name for t in only_cpu.pods] == ["c0"]


def test_an_instance_no_node_could_hold_is_an_error_naming_its_line() -> None:
    instances = parse_instances(SMALL, "f.csv")
    with pytest.raises(InputError) as caught:
        replay_trace("dlrm:hn_memory=100", instances, DlrmCluster(hn_memory=100), "f.csv")
    assert str(caught.value) == (
        "f.csv: line 3: memory_request: instance i1 needs more than a whole HN node has"
        " (hn_memory=100): it could never run"
    )


def test_a_small_dlrm_cluster_replays_with_waits_when_it_is_too_small(tmp_path: Path) -> None:
    instances = parse_instances(SMALL, "f.csv")
    trace = replay_trace("dlrm", instances, DlrmCluster(gpus=1, hn_nodes=1), "f.csv")
    result = replay(trace, "bestfit", seed=1)
    by_name = {p.name: p for p in result.pods}
    assert (by_name["i0"].start, by_name["i0"].end) == (0, 100)
    assert (by_name["i1"].start, by_name["i1"].state) == (100, PodState.RUNNING)
    assert by_name["i2"].state is PodState.PENDING


@pytest.mark.parametrize(
    ("workload", "line"),
    [
        ("dlrm:scale=0", "--trace dlrm:scale=0: scale: must be > 0, got 0.0"),
        ("dlrm:roles=GPU", "--trace dlrm:roles=GPU: roles: must be HN, CN or all, got 'GPU'"),
        ("dlrm:gpus=two", "--trace dlrm:gpus=two: gpus: 'two' is not a whole number"),
        ("dlrm:speed=2", "--trace dlrm:speed=2: speed: unknown option (known: cn_cpu,"),
        ("dlrm:gpus=2,gpus=4", "--trace dlrm:gpus=2,gpus=4: gpus: given twice"),
        ("dlrm:hn_nodes=-1", "--trace dlrm:hn_nodes=-1: hn_nodes: must be ≥ 0, got -1"),
    ],
)
def test_bad_options_name_the_workload_and_the_key(
    workload: str, line: str, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as caught:
        resolve_dlrm(workload, tmp_path)
    assert str(caught.value).startswith(line)


def test_an_unknown_gpu_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(SMALL)
    with pytest.raises(InputError) as caught:
        resolve_dlrm("dlrm:model=z100", tmp_path)
    assert str(caught.value).startswith("--trace dlrm:model=z100: model: ")


def test_without_a_trace_dir_the_error_says_the_trace_is_not_shipped() -> None:
    with pytest.raises(InputError) as caught:
        resolve_dlrm("dlrm", None)
    assert str(caught.value) == (
        "workload 'dlrm' is not shipped with dralloc: pass --trace-dir pointing at a folder"
        " holding disaggregated_DLRM_trace.csv (alibaba/clusterdata, cluster-trace-gpu-v2025)"
    )


def test_the_file_is_found_in_the_folder_or_its_trace_subfolder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        resolve_dlrm("dlrm", tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: no disaggregated_DLRM_trace.csv here or in alibaba-gpu-v2025-dlrm/:"
        " --trace-dir must hold the DLRM trace"
    )
    (tmp_path / FOLDER_NAME).mkdir()
    (tmp_path / FOLDER_NAME / FILE_NAME).write_text(SMALL)
    trace = resolve_dlrm("dlrm", tmp_path)
    assert trace.source == str(tmp_path / FOLDER_NAME / FILE_NAME)
    assert len(trace.pods) == 3


@needs_trace
def test_the_real_trace_has_the_readme_counts() -> None:
    text = (SHARED_TRACES / FOLDER_NAME / FILE_NAME).read_text(encoding="utf-8")
    instances = parse_instances(text, FILE_NAME)
    assert len(instances) == 23871
    assert sum(i.role is Role.CN for i in instances) == 16485
    assert sum(i.role is Role.HN and i.gpus == 1 for i in instances) == 7386
    assert sum(i.creation_time is None for i in instances) == 7280
    assert sum(i.deletion_time is None for i in instances) == 8878
    assert len({i.app for i in instances}) == 156


@needs_trace
def test_the_real_trace_gets_a_cluster_for_its_peak_of_3414_gpus() -> None:
    trace = resolve_dlrm("dlrm", SHARED_TRACES)
    assert len(trace.pods) == 7386
    assert len(trace.nodes) == 427  # ceil(3,414 / 8)
    assert trace.notes[-1] == "427 HN nodes (8 x a10, 128 vCPU, 1024 GiB each)"
    tighter = resolve_dlrm("dlrm:scale=0.5,gpus=4", SHARED_TRACES)
    assert len(tighter.nodes) == 427  # ceil(3,414 / 4 x 0.5)


@needs_trace
def test_a_slice_of_the_real_trace_replays(tmp_path: Path) -> None:
    text = (SHARED_TRACES / FOLDER_NAME / FILE_NAME).read_text(encoding="utf-8")
    hn = [i for i in parse_instances(text, FILE_NAME) if i.role is Role.HN][:300]
    trace = replay_trace("dlrm", hn, DlrmCluster(hn_nodes=20), FILE_NAME)
    result = replay(trace, "fgd", seed=42)
    summary = result.summary()
    assert summary.pods == 300
    assert summary.completed + summary.running + summary.pending == 300
    started = [p for p in result.pods if p.start is not None]
    hours = sum(((p.end or result.end_time) - (p.start or 0)) / 3600 for p in started)
    assert result.gpu_hours["a10"] == pytest.approx(hours)
