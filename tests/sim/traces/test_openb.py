"""The openb loaders read every pod list of the trace with the trace README's counts, ship the
default workload inside the package, and report every malformed row with file, line and column.

Tests that need the full trace read `../shared/traces/openb` beside the repository and skip,
saying so, where it is absent (a user's clone has no `../shared`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from dralloc.errors import InputError, Problem
from dralloc.sim.traces.model import TraceNode, TracePod
from dralloc.sim.traces.openb import (
    ALL_VARIANTS,
    DEFAULT_WORKLOAD,
    NODE_LIST_FILE,
    PAPER_VARIANTS,
    POD_COLUMNS,
    SHORT_POD_COLUMNS,
    WORKLOADS,
    OpenbNode,
    OpenbPod,
    OpenbTrace,
    PodPhase,
    Qos,
    arrival_trace,
    check_specs,
    expand_workloads,
    load_nodes,
    load_pods,
    parse_nodes,
    parse_pods,
    pod_list_file,
    replay_trace,
    resolve_trace,
    trace_node,
    trace_pod,
)

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
TRACE_DIR = SHARED / "traces" / "openb"
needs_trace = pytest.mark.skipif(
    not TRACE_DIR.is_dir(),
    reason=f"the full openb trace is not at {TRACE_DIR} (this clone has no ../shared)",
)
PACKAGED_FILES = [NODE_LIST_FILE, pod_list_file("default")]

FULL_HEADER = ",".join(POD_COLUMNS)
SHORT_HEADER = ",".join(SHORT_POD_COLUMNS)
NODE_HEADER = "sn,cpu_milli,memory_mib,gpu,model"
GOOD_ROW = "p-0,6000,12288,1,460,,LS,Running,10,20,10"


def packaged(name: str) -> bytes:
    return (resources.files("dralloc.sim") / "data" / "openb" / name).read_bytes()


def problems_of(text: str, file: str = "pods.csv") -> list[Problem]:
    with pytest.raises(InputError) as caught:
        parse_pods(text, file)
    return caught.value.problems


@pytest.fixture(scope="module")
def default() -> OpenbTrace:
    return resolve_trace(DEFAULT_WORKLOAD)


# --------------------------------------------------------------------------------------------
# The packaged default workload


def test_the_packaged_default_workload_has_8152_pods_on_1213_nodes_with_6212_gpus(
    default: OpenbTrace,
) -> None:
    assert (default.workload, default.variant, default.packaged) == (
        "openb:default",
        "default",
        True,
    )
    assert len(default.pods) == 8152
    assert len(default.nodes) == 1213
    assert sum(n.gpus for n in default.nodes) == 6212
    assert Path(default.pod_file).name == "openb_pod_list_default.csv"
    assert Path(default.node_file).name == "openb_node_list_gpu_node.csv"
    assert default.pods[0] == OpenbPod(
        "openb-pod-0000", 12000, 16384, 1, 1000, frozenset(), Qos.LS, PodPhase.RUNNING, 0,
        12537496, 0,
    )  # fmt: skip
    assert (default.pods[0].line, default.pods[-1].line) == (2, 8153)


def test_the_default_workload_has_the_readme_mix_of_pods(default: OpenbTrace) -> None:
    pods = default.pods
    requests = [trace_pod(p) for p in pods]
    assert sum(p.is_cpu_only for p in requests) == 1088
    assert sum(p.is_sharing for p in requests) == 3078
    assert sum(p.num_gpu == 1 and p.gpu_milli == 1000 for p in pods) == 3911
    assert Counter(p.num_gpu for p in requests if p.is_multi_gpu) == {2: 16, 4: 15, 8: 44}
    assert sum(p.gpu_milli_total for p in requests) == 6_086_800  # 6,086.8 GPUs
    assert sum(p.cpu_milli for p in pods) // 1000 == 85436
    assert not any(p.gpu_spec for p in pods)
    qos = {Qos.LS: 4647, Qos.BE: 3398, Qos.BURSTABLE: 100, Qos.GUARANTEED: 7}
    assert Counter(p.qos for p in pods) == qos
    phases = {"Running": 5193, "Failed": 1870, "Pending": 897, "Succeeded": 192}
    assert Counter(p.phase for p in pods) == phases  # StrEnum members equal their values
    pending = [p for p in pods if p.phase is PodPhase.PENDING]
    assert all(p.scheduled_time is None for p in pending)  # README quirk 5
    assert [p.name for p in pods if p.memory_mib == 0] == ["openb-pod-1523"]  # quirk 6


def test_only_the_39_g3_nodes_can_host_the_five_pods_asking_for_120_cores(
    default: OpenbTrace,
) -> None:
    big = [p for p in default.pods if p.cpu_milli >= 120_000]
    assert len(big) == 5
    assert all(120_000 <= p.cpu_milli <= 120_200 and p.num_gpu == 8 for p in big)
    hosts = {n.model for n in default.nodes if n.cpu_milli >= 120_200 and n.gpus >= 8}
    assert hosts == {"G3"}
    assert sum(n.model == "G3" for n in default.nodes) == 39


def test_the_gpu_node_list_has_the_readme_inventory(default: OpenbTrace) -> None:
    nodes, gpus = Counter[str | None](), Counter[str | None]()
    for node in default.nodes:
        nodes[node.model] += 1
        gpus[node.model] += node.gpus
    assert nodes == {"G2": 549, "T4": 404, "G3": 39, "P100": 134, "V100M32": 30, "V100M16": 55,
                     "A10": 2}  # fmt: skip
    assert gpus == {"G2": 4392, "T4": 842, "G3": 312, "P100": 265, "V100M32": 204,
                    "V100M16": 195, "A10": 2}  # fmt: skip
    assert sum(n.cpu_milli for n in default.nodes) == 107_018_000
    assert sum(n.memory_mib for n in default.nodes) == 503_828_480


@needs_trace
@pytest.mark.parametrize("name", PACKAGED_FILES)
def test_the_packaged_file_is_byte_identical_to_the_shared_trace(name: str) -> None:
    assert packaged(name) == (TRACE_DIR / name).read_bytes()


def test_the_packaged_readme_gives_the_sha256_of_each_packaged_file() -> None:
    readme = packaged("README.md").decode()
    for name in PACKAGED_FILES:
        assert hashlib.sha256(packaged(name)).hexdigest() in readme
    assert "7a6c496e4f4b6ce6150be8f881cb051bf2abff42" in readme
    assert "Beware of Fragmentation" in readme


# --------------------------------------------------------------------------------------------
# Workload names and every variant of the full trace


def test_workloads_are_the_papers_17_pod_lists_default_first() -> None:
    assert len(WORKLOADS) == 17 == len(set(WORKLOADS))
    assert WORKLOADS[0] == DEFAULT_WORKLOAD == "openb:default"
    assert all(w == "openb:" + v for w, v in zip(WORKLOADS, PAPER_VARIANTS, strict=True))
    assert set(PAPER_VARIANTS) <= set(ALL_VARIANTS)
    assert len(ALL_VARIANTS) == 24 == len(set(ALL_VARIANTS))


@needs_trace
def test_all_variants_are_exactly_the_pod_lists_in_the_trace_folder() -> None:
    on_disk = {p.name for p in TRACE_DIR.glob("openb_pod_list_*.csv")}
    assert on_disk == {pod_list_file(v) for v in ALL_VARIANTS}


# rows, CPU-only, sharing, whole-1-GPU, multi-GPU (2, 4, 8), pods with gpu_spec,
# total GPU request (GPUs), CPU request (whole cores): the trace README's table (§2.2).
README_TABLE = {
    "cpu0": (7064, 0, 3078, 3911, (16, 15, 44), 0, 6086.8, 66238),
    "cpu037": (7336, 272, 3078, 3911, (16, 15, 44), 0, 6086.8, 70988),
    "cpu050": (7439, 375, 3078, 3911, (16, 15, 44), 0, 6086.8, 72762),
    "cpu072": (7608, 544, 3078, 3911, (16, 15, 44), 0, 6086.8, 75836),
    "cpu100": (7853, 789, 3078, 3911, (16, 15, 44), 0, 6086.8, 80292),
    "cpu200": (8832, 1768, 3078, 3911, (16, 15, 44), 0, 6086.8, 97253),
    "cpu235": (9240, 2176, 3078, 3911, (16, 15, 44), 0, 6086.8, 104634),
    "cpu250": (9420, 2356, 3078, 3911, (16, 15, 44), 0, 6086.8, 107460),
    "cpu300": (10094, 3030, 3078, 3911, (16, 15, 44), 0, 6086.8, 119445),
    "default": (8152, 1088, 3078, 3911, (16, 15, 44), 0, 6086.8, 85436),
    "gpushare20": (8152, 1088, 2324, 4653, (12, 13, 62), 0, 6531.5, 90173),
    "gpushare40": (8152, 1088, 4001, 3001, (12, 11, 39), 0, 5641.2, 80383),
    "gpushare60": (8152, 1088, 5233, 1801, (7, 9, 14), 0, 4908.3, 72020),
    "gpushare80": (8152, 1088, 6279, 768, (2, 3, 12), 0, 4408.2, 67189),
    "gpushare100": (8152, 1088, 7064, 0, (0, 0, 0), 0, 3952.7, 61762),
    "gpuspec05": (8152, 1088, 3078, 3911, (16, 15, 44), 369, 6086.8, 85436),
    "gpuspec10": (8152, 1088, 3078, 3911, (16, 15, 44), 732, 6086.8, 85436),
    "gpuspec20": (8152, 1088, 3078, 3911, (16, 15, 44), 1444, 6086.8, 85436),
    "gpuspec25": (8152, 1088, 3078, 3911, (16, 15, 44), 1759, 6086.8, 85436),
    "gpuspec33": (8152, 1088, 3078, 3911, (16, 15, 44), 2388, 6086.8, 85436),
    "multigpu20": (8324, 1088, 3078, 3911, (54, 52, 141), 0, 7086.8, 95172),
    "multigpu30": (8508, 1088, 3078, 3911, (112, 83, 236), 0, 8086.8, 104870),
    "multigpu40": (8746, 1088, 3078, 3911, (156, 154, 359), 0, 9442.8, 118032),
    "multigpu50": (9061, 1088, 3078, 3911, (222, 206, 556), 0, 11358.8, 137776),
}


def test_the_readme_table_covers_every_variant() -> None:
    assert list(README_TABLE) == list(ALL_VARIANTS)


@needs_trace
@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_variant_loads_with_the_readme_counts(variant: str) -> None:
    trace = resolve_trace("openb:" + variant, TRACE_DIR)
    pods = trace.pods
    requests = [trace_pod(p) for p in pods]
    multi = Counter(p.num_gpu for p in requests if p.is_multi_gpu)
    counts = (
        len(pods),
        sum(p.is_cpu_only for p in requests),
        sum(p.is_sharing for p in requests),
        sum(p.num_gpu == 1 and p.gpu_milli == 1000 for p in pods),
        (multi[2], multi[4], multi[8]),
        sum(bool(p.gpu_spec) for p in pods),
        round(sum(p.gpu_milli_total for p in requests) / 1000, 1),
        round(sum(p.cpu_milli for p in pods) / 1000),
    )
    assert counts == README_TABLE[variant]
    assert (trace.pod_file, trace.packaged) == (str(TRACE_DIR / pod_list_file(variant)), False)
    assert len(trace.nodes) == 1213
    # The multigpu* files have no qos, phase or time columns (README quirk 1).
    assert all(p.qos is None for p in pods) == variant.startswith("multigpu")


@needs_trace
def test_multigpu_files_begin_with_default_and_gpuspec_files_change_only_gpu_spec(
    default: OpenbTrace,
) -> None:
    def resources_of(pods: tuple[OpenbPod, ...]) -> list[tuple[str, int, int, int, int]]:
        return [(p.name, p.cpu_milli, p.memory_mib, p.num_gpu, p.gpu_milli) for p in pods]

    multigpu = load_pods(TRACE_DIR / pod_list_file("multigpu20"))
    assert resources_of(multigpu[:8152]) == resources_of(default.pods)
    assert multigpu[8152].name == "openb-pod-8152"
    gpuspec = load_pods(TRACE_DIR / pod_list_file("gpuspec33"))
    unconstrained = [
        p
        for p, q in zip(gpuspec, default.pods, strict=True)
        if p == q  # line is not compared
    ]
    assert len(unconstrained) == 8152 - 2388
    assert resources_of(gpuspec) == resources_of(default.pods)
    specs = Counter(p.gpu_spec for p in gpuspec if p.gpu_spec)
    assert specs.most_common(1)[0][0] == frozenset({"T4"})


@needs_trace
def test_the_all_node_list_loads_its_310_cpu_only_nodes_without_a_model() -> None:
    nodes = load_nodes(TRACE_DIR / "openb_node_list_all_node.csv")
    assert len(nodes) == 1523
    assert sum(n.model is None for n in nodes) == 310
    assert all((n.model is None) == (n.gpus == 0) for n in nodes)


# --------------------------------------------------------------------------------------------
# Quirks that are valid


def test_a_five_column_multigpu_file_loads_with_any_model_and_no_qos_phase_or_times() -> None:
    (pod,) = parse_pods(f"{SHORT_HEADER}\nopenb-pod-8152,88000,327680,8,1000\n", "m.csv")
    assert pod == OpenbPod("openb-pod-8152", 88000, 327680, 8, 1000)
    assert (pod.gpu_spec, pod.qos, pod.phase, pod.creation_time, pod.line) == (
        frozenset(), None, None, None, 2,
    )  # fmt: skip
    request = trace_pod(pod)
    assert request.can_use_model("T4") and request.is_multi_gpu
    assert request.gpu_milli_total == 8000


def test_gpu_spec_is_a_set_and_empty_means_any_model() -> None:
    text = (
        f"{FULL_HEADER}\n"
        "a,1000,0,1,1000,V100M16|V100M32|V100M32,LS,Running,0,5,0\n"
        "b,1000,0,1,500,,BE,Pending,0,5,\n"
    )
    a, b = parse_pods(text, "pods.csv")
    assert a.gpu_spec == frozenset({"V100M16", "V100M32"})
    request_a, request_b = trace_pod(a), trace_pod(b)
    assert request_a.can_use_model("V100M32") and not request_a.can_use_model("T4")
    assert not request_a.can_use_model(None)  # a CPU-only node has no model
    assert b.gpu_spec == frozenset() and request_b.can_use_model("T4") and request_b.is_sharing
    assert (b.memory_mib, b.phase, b.scheduled_time) == (0, PodPhase.PENDING, None)


def test_the_line_is_provenance_and_not_part_of_equality() -> None:
    (pod,) = parse_pods(f"{FULL_HEADER}\n{GOOD_ROW}\n", "x.csv")
    assert pod.line == 2
    assert pod == OpenbPod(
        "p-0", 6000, 12288, 1, 460, frozenset(), Qos.LS, PodPhase.RUNNING, 10, 20, 10, line=99
    )


def test_load_pods_reads_a_file_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(f"\ufeff{FULL_HEADER}\r\n{GOOD_ROW}\r\n".encode())
    (pod,) = load_pods(path)
    assert (pod.name, pod.line) == ("p-0", 2)


# --------------------------------------------------------------------------------------------
# Malformed rows: every problem names file, line and column


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("p,12.5,1,0,0,,LS,Running,0,5,0", "cpu_milli",
         "not a whole number: '12.5', expected a whole number ≥ 0"),
        ("p,1000,-1,0,0,,LS,Running,0,5,0", "memory_mib", "must be ≥ 0, got -1"),
        ("p,1000,1,-2,0,,LS,Running,0,5,0", "num_gpu", "must be ≥ 0, got -2"),
        ("p,1000,,0,0,,LS,Running,0,5,0", "memory_mib",
         "empty, expected a whole number ≥ 0"),
        ("p,1000,1,1,1200,,LS,Running,0,5,0", "gpu_milli",
         "must be ≤ 1000 (one whole GPU), got 1200"),
        ("p,1000,1,0,500,,LS,Running,0,5,0", "gpu_milli", "must be 0 when num_gpu is 0, got 500"),
        ("p,1000,1,1,0,,LS,Running,0,5,0", "gpu_milli", "must be > 0 when num_gpu is 1, got 0"),
        ("p,1000,1,2,500,,LS,Running,0,5,0", "gpu_milli",
         "must be 1000 when num_gpu is 2 (a multi-GPU pod takes whole GPUs), got 500"),
        ("p,1000,1,1,500,T4|,LS,Running,0,5,0", "gpu_spec",
         "empty model name in 'T4|', expected MODEL|MODEL..."),
        ("p,1000,1,0,0,T4,LS,Running,0,5,0", "gpu_spec", "is 'T4' on a pod that asks for no GPU"),
        ("p,1000,1,0,0,,Gold,Running,0,5,0", "qos",
         "unknown value 'Gold', expected one of LS, BE, Burstable, Guaranteed"),
        ("p,1000,1,0,0,,LS,Done,0,5,0", "pod_phase",
         "unknown value 'Done', expected one of Pending, Running, Succeeded, Failed"),
        ("p,1000,1,0,0,,LS,Running,0,,0", "deletion_time", "empty, expected a whole number ≥ 0"),
        ("p,1000,1,0,0,,LS,Running,9,5,9", "deletion_time", "5 is before creation_time 9"),
        (",1000,1,0,0,,LS,Running,0,5,0", "name", "empty, expected a pod name"),
        ("p,1000,1,0,0,,LS,Running", "creation_time", "missing: the row ends after 8 of 11 fields"),
        ("p,1000,1,0,0,,LS,Running,0,5,0,7", "", "the row has 12 fields, the header 11"),
    ],
)  # fmt: skip
def test_a_malformed_row_is_reported_at_its_file_line_and_column(
    row: str, column: str, message: str
) -> None:
    text = f"{FULL_HEADER}\n{GOOD_ROW}\n{row}\n"
    assert problems_of(text) == [Problem("pods.csv", "line 3", column, message)]


def test_every_malformed_row_is_reported_together_and_none_is_dropped() -> None:
    text = (
        f"{SHORT_HEADER}\n"
        "a,1000,1,1,1000\n"
        "b,x,1,1,1000\n"  # line 3
        "c,1000,1,4,500\n"  # line 4
        "a,1000,1,1,1000\n"  # line 5: duplicate of line 2
        "\n"  # line 6
        "d,1000,-5,0,7\n"  # line 7: two problems
    )
    assert [str(p) for p in problems_of(text, "m.csv")] == [
        "m.csv: line 3: cpu_milli: not a whole number: 'x', expected a whole number ≥ 0",
        "m.csv: line 4: gpu_milli: must be 1000 when num_gpu is 4 (a multi-GPU pod takes whole"
        " GPUs), got 500",
        "m.csv: line 5: name: duplicate pod name 'a', first on line 2",
        "m.csv: line 6: blank line: every line after the header is a row",
        "m.csv: line 7: gpu_milli: must be 0 when num_gpu is 0, got 7",
        "m.csv: line 7: memory_mib: must be ≥ 0, got -5",
    ]


def test_a_quoted_field_spanning_lines_is_reported_at_the_line_where_its_row_starts() -> None:
    text = f'{SHORT_HEADER}\n"a\nb",1000,1,1,1000\nc,1000,1,1,x\n'
    assert problems_of(text) == [
        Problem("pods.csv", "line 4", "gpu_milli",
                "not a whole number: 'x', expected a whole number ≥ 0"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "column", "message"),
    [
        (FULL_HEADER.replace("gpu_milli", "gpu"), "gpu_milli",
         "header has 'gpu' where 'gpu_milli' belongs"),
        ("name,cpu_milli,memory_mib,num_gpu", "gpu_milli", "header ends early"),
        (SHORT_HEADER + ",extra", "gpu_spec", "header has 'extra' where 'gpu_spec' belongs"),
        (FULL_HEADER + ",extra", "", "header has extra columns 'extra'"),
        ("", "name", "header line is empty"),
    ],
)  # fmt: skip
def test_a_wrong_header_is_reported_at_line_1_with_both_known_schemas(
    header: str, column: str, message: str
) -> None:
    expected = f"{message}; the header must be {FULL_HEADER} or {SHORT_HEADER}"
    assert problems_of(f"{header}\n{GOOD_ROW}\n") == [
        Problem("pods.csv", "line 1", column, expected)
    ]


def test_an_empty_file_is_reported() -> None:
    (problem,) = problems_of("")
    assert (problem.obj, problem.message) == (
        "line 1",
        f"the file is empty, expected the header {FULL_HEADER} or {SHORT_HEADER}",
    )


def test_a_malformed_node_list_reports_every_row() -> None:
    text = (
        f"{NODE_HEADER}\n"
        "n-0,64000,262144,2,P100\n"
        "n-1,32000,262144,0,T4\n"  # a model on a node without GPUs
        "n-2,32000,262144,2,\n"  # GPUs without a model
        "n-0,1,1,0,\n"  # duplicate name
        "n-3,1k,1,0,\n"
    )
    with pytest.raises(InputError) as caught:
        parse_nodes(text, "nodes.csv")
    assert [(p.obj, p.field) for p in caught.value.problems] == [
        ("line 3", "model"),
        ("line 4", "model"),
        ("line 5", "sn"),
        ("line 6", "cpu_milli"),
    ]
    assert str(caught.value.problems[0]) == (
        "nodes.csv: line 3: model: is 'T4' on a node with 0 GPUs:"
        " a node has a model iff it has GPUs"
    )


def test_a_node_list_with_a_pod_header_is_rejected() -> None:
    with pytest.raises(InputError) as caught:
        parse_nodes(f"{SHORT_HEADER}\n", "nodes.csv")
    (problem,) = caught.value.problems
    assert (problem.obj, problem.field) == ("line 1", "sn")


def test_a_file_that_cannot_be_read_is_reported_by_path(tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    with pytest.raises(InputError, match="cannot read: No such file or directory"):
        load_pods(missing)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"name\xff\n")
    with pytest.raises(InputError) as caught:
        load_nodes(binary)
    assert caught.value.problems == [Problem(str(binary), "", "", "not UTF-8 text (byte 4)")]


# --------------------------------------------------------------------------------------------
# Checks across files, and resolving workload names


def test_check_specs_reports_a_model_no_node_has() -> None:
    nodes = [OpenbNode("n-0", 8000, 1024, 1, "T4"), OpenbNode("n-1", 8000, 1024, 0, None)]
    pods = [
        OpenbPod("a", 1000, 0, 1, 1000, frozenset({"T4"}), line=2),
        OpenbPod("b", 1000, 0, 1, 1000, frozenset({"T4", "H100", "A100"}), line=3),
    ]
    assert check_specs(pods, nodes, "pods.csv") == [
        Problem("pods.csv", "line 3", "gpu_spec", "no node has model A100, H100 (models: T4)")
    ]


def write_trace(folder: Path, variant: str, pod_rows: str) -> None:
    (folder / NODE_LIST_FILE).write_text(f"{NODE_HEADER}\nn-0,8000,1024,1,T4\n")
    (folder / pod_list_file(variant)).write_text(f"{FULL_HEADER}\n{pod_rows}")


def test_resolve_trace_reads_both_files_from_the_trace_dir(tmp_path: Path) -> None:
    write_trace(tmp_path, "gpushare40", f"{GOOD_ROW}\n")
    trace = resolve_trace("openb:gpushare40", tmp_path)
    assert trace == OpenbTrace(
        "openb:gpushare40",
        (OpenbNode("n-0", 8000, 1024, 1, "T4"),),
        (OpenbPod("p-0", 6000, 12288, 1, 460, frozenset(), Qos.LS, PodPhase.RUNNING, 10, 20, 10),),
        str(tmp_path / NODE_LIST_FILE),
        str(tmp_path / "openb_pod_list_gpushare40.csv"),
        packaged=False,
    )


def test_resolve_trace_rejects_a_gpu_spec_naming_a_model_no_node_has(tmp_path: Path) -> None:
    write_trace(tmp_path, "gpuspec10", "a,1000,0,1,1000,G3|T4,LS,Running,0,5,0\n")
    with pytest.raises(InputError) as caught:
        resolve_trace("openb:gpuspec10", tmp_path)
    assert caught.value.problems == [
        Problem(
            str(tmp_path / "openb_pod_list_gpuspec10.csv"),
            "line 2",
            "gpu_spec",
            "no node has model G3 (models: T4)",
        )
    ]


@pytest.mark.parametrize("name", ["default", "openb:nope", "openb:", "philly:default"])
def test_resolve_trace_rejects_an_unknown_workload_listing_the_known_ones(name: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve_trace(name)
    (problem,) = caught.value.problems
    assert problem.message.startswith(f"unknown workload {name!r}, expected one of openb:cpu0, ")
    assert problem.message.endswith(", openb:multigpu50")


def test_a_variant_that_is_not_packaged_needs_a_trace_dir() -> None:
    with pytest.raises(InputError) as caught:
        resolve_trace("openb:gpushare40")
    assert str(caught.value) == (
        "workload 'openb:gpushare40' is not shipped with dralloc (only openb:default is):"
        " pass --trace-dir pointing at a copy of the openb trace (alibaba/clusterdata,"
        " cluster-trace-gpu-v2023/csv)"
    )


def test_a_trace_dir_without_the_files_reports_each_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        resolve_trace("openb:default", tmp_path)
    message = "no such file: --trace-dir must name a copy of the openb trace"
    assert caught.value.problems == [
        Problem(str(tmp_path / NODE_LIST_FILE), "", "", message),
        Problem(str(tmp_path / "openb_pod_list_default.csv"), "", "", message),
    ]


def test_openb_paper_names_the_papers_seventeen_workloads_once_each() -> None:
    expanded = expand_workloads(["openb:default", "openb:paper"])
    assert expanded == list(WORKLOADS)
    assert len(expanded) == 17
    assert expand_workloads(["openb:gpushare40"]) == ["openb:gpushare40"]


# --------------------------------------------------------------------------------------------
# Conversion to the request model


def test_rows_convert_to_the_request_model_keeping_requests_and_line() -> None:
    text = f"{FULL_HEADER}\n{GOOD_ROW}\nq-1,8000,0,2,1000,T4|P100,BE,Pending,3,9,\n"
    p0, q1 = parse_pods(text, "pods.csv")
    assert trace_pod(p0) == TracePod("p-0", 6000, 12288, 1, 460)
    assert trace_pod(q1) == TracePod("q-1", 8000, 0, 2, 1000, frozenset({"T4", "P100"}))
    assert (trace_pod(p0).line, trace_pod(q1).line) == (2, 3)
    (node,) = parse_nodes(f"{NODE_HEADER}\nn-0,8000,1024,2,T4\n", "nodes.csv")
    assert trace_node(node) == TraceNode("n-0", 8000, 1024, 2, "T4")
    assert trace_node(node).line == 2


def test_the_default_workload_converts_pod_for_pod_for_the_fgd_experiment(
    default: OpenbTrace,
) -> None:
    arrivals = arrival_trace(default)
    assert (arrivals.workload, arrivals.source) == ("openb:default", default.pod_file)
    assert arrivals.pods == tuple(trace_pod(p) for p in default.pods)
    assert arrivals.nodes == tuple(trace_node(n) for n in default.nodes)
    assert arrivals.total_gpus == 6212
    assert arrivals.models.model("G2").name == "openb-g2"


def test_openb_pods_arrive_at_creation_and_run_until_deletion() -> None:
    openb = OpenbTrace(
        "openb:test",
        (OpenbNode("t4-0", 16000, 65536, 1, "T4"),),
        (
            OpenbPod("p-0", 1000, 1024, 1, 1000, creation_time=5, deletion_time=25),
            OpenbPod("p-1", 1000, 1024, 1, 1000, creation_time=10, deletion_time=40),
        ),
        "nodes.csv",
        "pods.csv",
        packaged=False,
    )
    replayed = replay_trace(openb)
    assert [(t.pod.name, t.arrival, t.duration) for t in replayed.pods] == [
        ("p-0", 5, 20),
        ("p-1", 10, 30),
    ]
    assert replayed.pods[0].pod == TracePod("p-0", 1000, 1024, 1, 1000)
    assert replayed.nodes == (TraceNode("t4-0", 16000, 65536, 1, "T4"),)
    assert replayed.source == "pods.csv"


def test_an_openb_file_without_times_cannot_be_replayed() -> None:
    openb = OpenbTrace(
        "openb:multigpu20",
        (OpenbNode("t4-0", 16000, 65536, 1, "T4"),),
        (OpenbPod("p-0", 1000, 1024, 2, 1000, line=2),),
        "nodes.csv",
        "openb_pod_list_multigpu20.csv",
        packaged=False,
    )
    with pytest.raises(InputError) as caught:
        replay_trace(openb)
    assert str(caught.value).startswith(
        "openb_pod_list_multigpu20.csv: line 2: creation_time: openb:multigpu20 has no"
    )
