"""benchmarks/cluster_mode.py: upstream's throughput sampling rule, the objects of its DRA
shape, and, with the upstream programs built, its `--smoke` run end to end (the plumbing:
every pod bound, no device twice, the benchmark lines; never its speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "k8s"))

from controlplane import is_k8s_required, k8s_home, missing_binaries

import cluster_mode as bench

ROOT = Path(__file__).resolve().parents[2]

NEEDED = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager")


def test_the_first_tick_with_pods_scheduled_only_starts_the_clock() -> None:
    sampler = bench.ThroughputSampler()
    sampler.tick(1.0, 0)
    sampler.tick(2.0, 5)
    assert sampler.samples == []
    sampler.tick(3.0, 15)
    assert sampler.samples == [10.0]


def test_a_tick_with_nothing_new_is_skipped_and_the_next_sample_counts_for_it_too() -> None:
    sampler = bench.ThroughputSampler()
    sampler.tick(1.0, 4)
    sampler.tick(2.0, 4)
    sampler.tick(3.0, 4)
    sampler.tick(4.0, 34)
    assert sampler.samples == [10.0, 10.0, 10.0]


def test_the_summary_is_the_mean_and_upstreams_ceiling_percentiles() -> None:
    sampler = bench.ThroughputSampler(samples=[float(v) for v in range(1, 11)])
    summary = sampler.summary()
    assert summary == {
        "Average": 5.5,
        "Perc50": 5.0,  # sorted[ceil(10 * 50 / 100) - 1]
        "Perc90": 9.0,
        "Perc95": 10.0,
        "Perc99": 10.0,
    }
    assert bench.ThroughputSampler().summary() is None


def test_the_dra_shape_objects_are_scheduler_perfs() -> None:
    node = bench.dra_node("scheduler-perf-dra-0", "upstream")
    assert node["status"]["capacity"] == {"pods": "110", "cpu": "4", "memory": "32Gi"}
    assert node["metadata"]["labels"]["node-with-dra"] == "true"
    devices = bench.dra_slice("scheduler-perf-dra-0", "upstream")["spec"]["devices"]
    assert [d["name"] for d in devices] == [f"instance-{i}" for i in range(10)]
    assert devices[3]["attributes"]["dra.example.com/numa"] == {"int": 3}
    assert devices[0]["capacity"] == {"memory": {"value": "1Gi"}}
    pod = bench.template_pod("test-dra-0", "test", "default-scheduler", bench.TEMPLATE)
    assert pod["spec"]["resourceClaims"] == [
        {"name": "resource", "resourceClaimTemplateName": "test-claim-template"}
    ]


def test_the_fgd_profile_loads_and_its_typical_pods_are_the_mix() -> None:
    from dralloc.scheduler.config import load_config
    from dralloc.scheduler.profiles import plugin_names

    config = bench.fgd_config()
    typical = config["profiles"][0]["pluginConfig"][0]["args"]["typicalPods"]
    assert [(t["gpuMilli"], t["numGpu"], t["weight"]) for t in typical] == [
        (250, 1, 4),
        (500, 1, 3),
        (1000, 1, 2),
        (1000, 2, 1),
    ]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fgd-{os.getpid()}.json"
    path.write_text(json.dumps(config))
    try:
        loaded = load_config(str(path), plugin_names())
    finally:
        path.unlink()
    assert [p.scheduler_name for p in loaded.profiles] == ["dralloc"]


def test_a_fractional_template_books_its_share_of_an_h100s_memory() -> None:
    template = bench.claim_template("half-gpu", "fgd", bench.FRACTIONAL_CLASS, cores=50)
    exactly = template["spec"]["spec"]["devices"]["requests"][0]["exactly"]
    assert exactly["capacity"] == {"requests": {"cores": "50", "memory": "40960Mi"}}


@pytest.mark.k8s("kube-scheduler", "kube-controller-manager")
def test_the_smoke_run_binds_every_pod_once_and_prints_upstreams_benchmark_lines(
    tmp_path: Path,
) -> None:
    missing = missing_binaries(NEEDED)
    if missing:
        message = f"{', '.join(missing)} not in {k8s_home() / 'bin'}: run tools/build.sh"
        if is_k8s_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = tmp_path / "run.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cluster_mode.py"),
            "--smoke",
            "--json",
            *("--out", str(out), "--keep", str(tmp_path / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    lines = done.stdout.splitlines()
    workload = "BenchmarkPerfScheduling/SchedulingWithResourceClaimTemplate/200pods_20nodes"
    bench_lines = [line for line in lines if line.startswith("Benchmark")]
    assert [line.split("-")[0] for line in bench_lines][:2] == [workload, workload]
    assert [line for line in lines if line.startswith("scheduler: ")][:2] == [
        "scheduler: kube-scheduler",
        "scheduler: dralloc",
    ]
    rows = {row["part"]: row for row in map(json.loads, (x for x in lines if x[:1] == "{"))}
    assert list(rows) == ["upstream", "dralloc", "fgd", "soak"]
    for part in ("upstream", "dralloc"):
        assert rows[part]["bound"] == 100
        assert rows[part]["devices_allocated"] == 200  # init and measured pods, one each
        assert rows[part]["problems"] == []
    assert rows["fgd"]["bound"] == 40
    assert rows["fgd"]["problems"] == []
    soak = rows["soak"]
    assert soak["bound"] == soak["pods"] > 0
    assert soak["extra"]["scheduled_events"] == soak["bound"]
    assert soak["extra"]["rss_max_mib"] > 0
    assert soak["problems"] == []
    document = json.loads(out.read_text())
    assert document["machine"]["nproc"] == os.cpu_count()
    assert set(document["commands"]) >= {"kube-scheduler", "kube-controller-manager", "dralloc"}
