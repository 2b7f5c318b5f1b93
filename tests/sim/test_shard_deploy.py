"""deploy/sweep: the Indexed Job reads as a valid batch/v1 Job with dralloc's manifest reader,
its shell command gives each completion index the shard K = index + 1 of N = completions with
a folder of its own on the results claim (the shards together cover the campaign once), and
the merge Job reads every shard folder from the same claim."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import typer.main
import yaml

from dralloc.api.io import load_text
from dralloc.api.workloads import Job
from dralloc.cli.main import app
from dralloc.sim.shards import Shard, parse_shard

SWEEP = Path(__file__).resolve().parents[2] / "deploy" / "sweep"


def _job(path: Path) -> tuple[Job, dict[str, Any]]:
    """The Job as dralloc reads it (strict: every field checked against the API's schema) and
    its pod template's spec as written (dralloc models only what scheduling reads of a pod)."""
    (loaded,), problems = load_text(path.read_text(), str(path))
    assert problems == []
    assert isinstance(loaded.obj, Job)
    pod: dict[str, Any] = loaded.raw["spec"]["template"]["spec"]
    return loaded.obj, pod


def _argv(pod: dict[str, Any], index: int) -> list[str]:
    """The command line the container runs at completion index `index`, through a real shell
    (with `dralloc` standing for the program, printed word by word)."""
    (container,) = pod["containers"]
    assert container["command"] == ["sh", "-c"]
    (script,) = container["args"]
    assert script.startswith("exec dralloc ")
    env = {var["name"]: var["value"] for var in container["env"]}
    env["JOB_COMPLETION_INDEX"] = str(index)
    printed = subprocess.run(
        ["sh", "-c", script.replace("exec dralloc ", "printf '%s\\n' ", 1)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return printed.stdout.splitlines()


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_sweep_is_an_indexed_job_with_one_shard_per_completion_index() -> None:
    job, pod = _job(SWEEP / "10-sweep-job.yaml")
    assert (job.api_version, job.kind) == ("batch/v1", "Job")
    assert job.spec.completion_mode == "Indexed"
    assert pod["restartPolicy"] == "Never"  # as backoffLimitPerIndex requires
    count = job.spec.completions
    assert count is not None and count >= 2 and job.spec.parallelism == count
    simulate = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    covered: list[int] = []
    folders = set()
    for index in range(count):
        argv = _argv(pod, index)
        assert argv[0] == "simulate"
        simulate.make_context("simulate", argv[1:])  # every option exists and parses
        shard = parse_shard(_option(argv, "--shard"))
        assert shard == Shard(index + 1, count)
        folders.add(_option(argv, "--out"))
        covered += shard.indices(60)
    assert sorted(covered) == list(range(60))
    assert folders == {f"/results/shard-{k}" for k in range(1, count + 1)}


def test_the_shards_and_the_merge_share_the_results_claim() -> None:
    (claim,) = yaml.safe_load_all((SWEEP / "00-results-pvc.yaml").read_text())
    assert (claim["apiVersion"], claim["kind"]) == ("v1", "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    merge = _job(SWEEP / "merge" / "merge-job.yaml")
    for job, pod in (_job(SWEEP / "10-sweep-job.yaml"), merge):
        assert job.metadata.namespace == claim["metadata"]["namespace"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        results = volumes[mounts["/results"]]["persistentVolumeClaim"]
        assert results["claimName"] == claim["metadata"]["name"]
    (script,) = merge[1]["containers"][0]["args"]
    words = shlex.split(script)
    assert words[:4] == ["exec", "dralloc", "simulate", "merge"]
    assert "/results/shard-*" in words and _option(words, "--out") == "/results/simulation"
