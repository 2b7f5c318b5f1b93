"""The sharing-strategy examples in `examples/`, run exactly as their READMEs say.

Each example folder's README lists shell commands in a `sh` block. The `walkthrough` fixture
copies the folder to a temporary directory and runs the README's `dralloc ...` lines there
in-process, once per folder (a trailing `> FILE` writes stdout to FILE, as the shell would);
the tests then check each command's exit code, exact stderr lines, the devices, shareIDs and
consumed capacity allocated and the `dralloc.io/isolation` annotation. Every folder's
`cluster.yaml` must be byte for byte what its README's `dralloc cluster generate` line
writes, and every `text` block of a README must be output one of its commands prints, so the
examples cannot go stale. Problems found in `src/` are strict xfails at the end.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from dralloc.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NODE = "h100-80gb-sxm-00"

# The commands each README runs, in order. The README must list exactly these.
COMMANDS: dict[str, list[str]] = {
    "exclusive-gpu": [
        "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1 -o yaml --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f second-claim.yaml",
    ],
    "time-slicing-shared-claim": [
        "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1 -o yaml --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f second-claim.yaml",
    ],
    "time-slicing-replicas": [
        "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1,sharing=time-slicing,replicas=4"
        " -o yaml --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f fifth-claim.yaml",
    ],
    "mps": [
        "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1,sharing=mps -o yaml"
        " --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f over-percentage.yaml",
    ],
    "fractional": [
        "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1,sharing=fractional -o yaml"
        " --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f overcommit.yaml",
    ],
    "mig-dynamic": [
        "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1,mig=dynamic -o yaml"
        " --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f another-4g.yaml",
        "dralloc allocate -f cluster.yaml -f inference-pair.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f inference-pair.yaml",
    ],
    "mig-static": [
        "dralloc cluster generate -f cluster-spec.yaml -o yaml --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f missing-profile.yaml",
        "dralloc allocate -f cluster.yaml -f inference-pair.yaml",
    ],
    "mig-mps": [
        "dralloc cluster generate --nodes"
        " 1xh100-80gb-sxm:gpus=1,mig=static,layout=all-balanced,sharing=mps"
        " -o yaml --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f over-memory.yaml",
    ],
    "mig-time-slicing": [
        "dralloc cluster generate --nodes"
        " 1xh100-80gb-sxm:gpus=1,mig=dynamic,sharing=time-slicing,replicas=2"
        " -o yaml --out cluster.yaml",
        "dralloc allocate -f cluster.yaml -f claims.yaml > allocated.yaml",
        "dralloc allocate -f cluster.yaml -f allocated.yaml -f bigger-instance.yaml",
    ],
}
FOLDERS = sorted(COMMANDS)
# Folders whose walk-through a command's own tests run, not the sharing-strategy harness here.
TESTED_ELSEWHERE = {"queueing": "tests/cli/test_cli_queue.py"}


# ------------------------------------------------------------------------------- helpers


def _blocks(readme: Path, language: str) -> list[list[str]]:
    """The lines of every fenced block of `language`, indentation removed."""
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"^( *)```{language}\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
    return [
        [line.removeprefix(match.group(1)) for line in match.group(2).splitlines()]
        for match in pattern.finditer(text)
    ]


def readme_commands(folder: str) -> list[str]:
    return [
        line
        for block in _blocks(EXAMPLES / folder / "README.md", "sh")
        for line in block
        if line.startswith("dralloc ")
    ]


def invoke(*args: str) -> Result:
    """Run `dralloc ARGS...` in-process; it must end through its exit code."""
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stderr
    return result


class Walkthrough:
    """One example folder copied to `workdir`, with its README's commands run there once, in
    order, as the shell would: from the folder, `> FILE` writing stdout to FILE. The checked-in
    `cluster.yaml` is removed first, so the README's generate line must write it again."""

    def __init__(self, folder: str, workdir: Path) -> None:
        self.folder = folder
        self.workdir = workdir
        shutil.copytree(EXAMPLES / folder, workdir)
        (workdir / "cluster.yaml").unlink()
        self.results: dict[str, Result] = {}
        with contextlib.chdir(workdir):
            for command in COMMANDS[folder]:
                words = shlex.split(command)
                target = None
                if ">" in words:
                    words, target = words[: words.index(">")], words[-1]
                self.results[command] = invoke(*words[1:])
                if target is not None:
                    (workdir / target).write_text(self.results[command].stdout, encoding="utf-8")

    def outcome(self, number: int) -> Result:
        """The result of the README's `number`th `dralloc allocate` line (its "Expected
        outcome" item `number`)."""
        allocations = [c for c in COMMANDS[self.folder] if c.startswith("dralloc allocate")]
        return self.results[allocations[number - 1]]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Walkthrough]:
    """`walkthrough("mps")`: that folder's README run once per test module (and worker)."""
    done: dict[str, Walkthrough] = {}

    def get(folder: str) -> Walkthrough:
        if folder not in done:
            done[folder] = Walkthrough(folder, tmp_path_factory.mktemp("examples") / folder)
        return done[folder]

    return get


Walk = Callable[[str], Walkthrough]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """`scratch("mps")`: a copy of the folder to try other files in; it becomes the cwd."""

    def make(folder: str) -> Path:
        workdir = tmp_path / folder
        shutil.copytree(EXAMPLES / folder, workdir)
        monkeypatch.chdir(workdir)
        return workdir

    return make


def claims(result: Result) -> dict[str, dict[str, Any]]:
    """The claims `dralloc allocate` printed, by name (the Pods of the input are left out)."""
    document = yaml.safe_load(result.stdout)
    assert document["kind"] == "List"
    assert {item["kind"] for item in document["items"]} == {"ResourceClaim"}
    return {item["metadata"]["name"]: item for item in document["items"]}


def results(item: dict[str, Any]) -> list[dict[str, Any]]:
    return list(item["status"]["allocation"]["devices"]["results"])


def devices(item: dict[str, Any]) -> list[tuple[str, str]]:
    """(request, device) of every result, all on the example's one node."""
    assert {(r["driver"], r["pool"]) for r in results(item)} == {("gpu.nvidia.com", NODE)}
    return [(r["request"], r["device"]) for r in results(item)]


def isolation(item: dict[str, Any]) -> list[dict[str, Any]]:
    return list(json.loads(item["metadata"]["annotations"]["dralloc.io/isolation"]))


def shares(items: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, str]]]:
    """Claim name -> (device, consumedCapacity) of its one result, checking its shareID."""
    found = {}
    share_ids = []
    for name, item in items.items():
        (result,) = results(item)
        share_ids.append(str(uuid.UUID(result["shareID"])))
        found[name] = (result["device"], result["consumedCapacity"])
    assert len(set(share_ids)) == len(share_ids), "every share of a device has its own shareID"
    return found


def refusal(claim: str, *requests: str) -> list[str]:
    return [
        f"claim default/{claim} on node {NODE}: cannot be allocated: not enough matching devices",
        *(f"  request {line}" for line in requests),
        "0/1 nodes can allocate the claim",
    ]


def shared_line(claim: str, request: str, device: str, mechanism: str, enforced: str) -> str:
    return (
        f"  ResourceClaim default/{claim} {request}: gpu.nvidia.com/{NODE}/{device} "
        f"[{mechanism}] enforced: {enforced}"
    )


# ------------------------------------------------------------------ every example folder


def test_every_example_folder_is_tested() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert folders == sorted([*FOLDERS, *TESTED_ELSEWHERE])
    root = EXAMPLES.parent
    for folder, test in TESTED_ELSEWHERE.items():
        assert f"examples/{folder}" in (root / test).read_text(encoding="utf-8"), test


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_readme_runs_the_tested_commands_in_order(folder: str) -> None:
    assert readme_commands(folder) == COMMANDS[folder]


@pytest.mark.parametrize("folder", FOLDERS)
def test_cluster_yaml_is_what_the_readme_command_generates(folder: str, walkthrough: Walk) -> None:
    walk = walkthrough(folder)
    (generate,) = [c for c in COMMANDS[folder] if c.startswith("dralloc cluster generate")]
    assert walk.results[generate].exit_code == 0, walk.results[generate].stderr
    generated = (walk.workdir / "cluster.yaml").read_text(encoding="utf-8")
    assert generated == (EXAMPLES / folder / "cluster.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_readme_shows_output_its_commands_print(folder: str, walkthrough: Walk) -> None:
    printed = {line for r in walkthrough(folder).results.values() for line in r.stderr.splitlines()}
    shown = [line for block in _blocks(EXAMPLES / folder / "README.md", "text") for line in block]
    assert shown
    assert [line for line in shown if line not in printed] == []


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_manifests_hold_the_pods_a_user_writes(folder: str) -> None:
    """`dralloc allocate` reads Pods and leaves them out of its output (see `claims`)."""
    pods = [
        doc
        for path in sorted((EXAMPLES / folder).glob("*.yaml"))
        if path.name not in ("cluster.yaml", "cluster-spec.yaml")
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc["kind"] == "Pod"
    ]
    assert pods
    for pod in pods:
        (claim_ref,) = pod["spec"]["resourceClaims"]
        assert [c["resources"]["claims"] for c in pod["spec"]["containers"]] == [
            [{"name": claim_ref["name"]}]
        ]


# ------------------------------------------------------------------------ exclusive-gpu


def test_exclusive_gpu_gives_the_whole_gpu_to_one_claim(walkthrough: Walk) -> None:
    result = walkthrough("exclusive-gpu").outcome(1)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [f"allocated on node {NODE}"]
    (item,) = claims(result).values()
    assert devices(item) == [("gpu", "gpu-0")]
    assert "shareID" not in results(item)[0]
    assert isolation(item) == [
        {
            "request": "gpu",
            "device": f"gpu.nvidia.com/{NODE}/gpu-0",
            "mechanism": "exclusive",
            "accounted": {"memory": "80Gi"},
            "enforced": {"memory": "80Gi"},
        }
    ]


def test_exclusive_gpu_refuses_a_second_claim_on_the_one_gpu(walkthrough: Walk) -> None:
    result = walkthrough("exclusive-gpu").outcome(2)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == refusal(
        "evaluation-gpu", "gpu: 0 of 1 devices fit (needs 1); 1 in use"
    )


# ------------------------------------------------------------ time-slicing-shared-claim


def test_a_time_sliced_claim_holds_the_whole_gpu_with_the_claims_config(
    walkthrough: Walk,
) -> None:
    result = walkthrough("time-slicing-shared-claim").outcome(1)
    assert result.exit_code == 0
    (item,) = claims(result).values()
    assert devices(item) == [("gpu", "gpu-0")]
    assert "shareID" not in results(item)[0]
    (config,) = item["status"]["allocation"]["devices"]["config"]
    assert config["source"] == "FromClaim"
    assert config["opaque"]["parameters"]["sharing"] == {
        "strategy": "TimeSlicing",
        "timeSlicingConfig": {"interval": "Long"},
    }
    (entry,) = isolation(item)
    assert (entry["mechanism"], entry["enforced"]) == ("time-slicing", {})
    assert result.stderr.splitlines() == [
        f"allocated on node {NODE}",
        shared_line("notebook-shared-gpu", "gpu", "gpu-0", "time-slicing", "nothing"),
    ]


def test_three_pods_share_the_claim_and_a_claim_of_its_own_is_refused(walkthrough: Walk) -> None:
    manifests = EXAMPLES / "time-slicing-shared-claim" / "claims.yaml"
    pods = [
        doc
        for doc in yaml.safe_load_all(manifests.read_text(encoding="utf-8"))
        if doc["kind"] == "Pod"
    ]
    assert {p["spec"]["resourceClaims"][0]["resourceClaimName"] for p in pods} == {
        "notebook-shared-gpu"
    }
    assert len(pods) == 3
    result = walkthrough("time-slicing-shared-claim").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "notebook-dave-gpu", "gpu: 0 of 1 devices fit (needs 1); 1 in use"
    )


# ---------------------------------------------------------------- time-slicing-replicas


def test_four_claims_each_get_a_replica_of_the_same_gpu(walkthrough: Walk) -> None:
    result = walkthrough("time-slicing-replicas").outcome(1)
    assert result.exit_code == 0
    items = claims(result)
    assert shares(items) == {
        f"notebook-{n}-gpu": ("gpu-0", {"memory": "0", "replicas": "1"}) for n in range(4)
    }
    for item in items.values():
        (entry,) = isolation(item)
        assert (entry["mechanism"], entry["enforced"]) == ("time-slicing", {})
        (config,) = item["status"]["allocation"]["devices"]["config"]
        assert (config["source"], config["opaque"]["parameters"]["sharing"]["strategy"]) == (
            "FromClass",
            "TimeSlicing",
        )
    assert result.stderr.splitlines() == [
        f"allocated on node {NODE}",
        *(
            shared_line(f"notebook-{n}-gpu", "gpu", "gpu-0", "time-slicing", "nothing")
            for n in range(4)
        ),
    ]


def test_the_fifth_time_slicing_claim_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("time-slicing-replicas").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "notebook-4-gpu",
        "gpu: 0 of 1 devices fit (needs 1); 1 capacity too small (capacity replicas: 1 short)",
    )


# ---------------------------------------------------------------------------------- mps


def test_three_mps_claims_share_one_gpu_with_enforced_limits(walkthrough: Walk) -> None:
    result = walkthrough("mps").outcome(1)
    assert result.exit_code == 0
    items = claims(result)
    booked = {"memory": "20Gi", "clients": "1", "activeThreadPercentage": "30"}
    names = ["chat-gpu", "embeddings-gpu", "reranker-gpu"]
    assert shares(items) == {name: ("gpu-0", booked) for name in names}
    for item in items.values():
        (entry,) = isolation(item)
        assert entry["mechanism"] == "mps"
        assert entry["accounted"] == booked
        assert entry["enforced"] == {"activeThreadPercentage": "30", "pinnedMemoryLimit": "20Gi"}
    enforced = "activeThreadPercentage=30, pinnedMemoryLimit=20Gi"
    assert result.stderr.splitlines() == [
        f"allocated on node {NODE}",
        *(shared_line(name, "gpu", "gpu-0", "mps", enforced) for name in names),
    ]


def test_an_mps_claim_over_the_remaining_thread_percentage_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("mps").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "summarizer-gpu",
        "gpu: 0 of 1 devices fit (needs 1); "
        "1 capacity too small (capacity activeThreadPercentage: 10 short)",
    )


# --------------------------------------------------------------------------- fractional


def test_fractional_claims_share_one_gpu_accounted_only(walkthrough: Walk) -> None:
    result = walkthrough("fractional").outcome(1)
    assert result.exit_code == 0
    items = claims(result)
    names = ["etl-0-gpu", "etl-1-gpu", "etl-2-gpu"]
    assert shares(items) == {name: ("gpu-0", {"memory": "10Gi", "cores": "30"}) for name in names}
    for item in items.values():
        (entry,) = isolation(item)
        assert entry == {
            "request": "gpu",
            "device": f"gpu.nvidia.com/{NODE}/gpu-0",
            "mechanism": "none",
            "accounted": {"memory": "10Gi", "cores": "30"},
            "enforced": {},
            "note": "fractional share accounted by the scheduler only; nothing enforces it",
        }
        assert "config" not in item["status"]["allocation"]["devices"]
    assert result.stderr.splitlines() == [
        f"allocated on node {NODE}",
        *(shared_line(name, "gpu", "gpu-0", "none", "nothing") for name in names),
    ]


def test_a_fractional_memory_overcommit_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("fractional").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "etl-3-gpu",
        "gpu: 0 of 1 devices fit (needs 1); 1 capacity too small (capacity memory: 10Gi short)",
    )


# -------------------------------------------------------------------------- mig-dynamic


def test_a_3g_40gb_and_a_4g_40gb_fit_one_dynamic_mig_gpu(walkthrough: Walk) -> None:
    result = walkthrough("mig-dynamic").outcome(1)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [f"allocated on node {NODE}"]
    items = claims(result)
    assert {name: devices(item) for name, item in items.items()} == {
        "finetune-mig": [("mig", "gpu-0-mig-3g40gb-9-4")],
        "batch-inference-mig": [("mig", "gpu-0-mig-4g40gb-5-0")],
    }
    (entry,) = isolation(items["finetune-mig"])
    assert entry["mechanism"] == "mig"
    assert (entry["enforced"]["multiprocessors"], entry["enforced"]["memory"]) == ("60", "40448Mi")


def test_a_second_4g_40gb_on_the_one_gpu_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("mig-dynamic").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "batch-inference-2-mig",
        "mig: 0 of 26 devices fit (needs 1); 24 request selector is false, "
        "1 class selector is false, 1 in use",
    )


def test_the_inference_pair_gets_two_1g_10gb_of_one_gpu(walkthrough: Walk) -> None:
    result = walkthrough("mig-dynamic").outcome(3)
    assert result.exit_code == 0
    (item,) = claims(result).values()
    assert devices(item) == [
        ("slices/two-1g", "gpu-0-mig-1g10gb-19-0"),
        ("slices/two-1g", "gpu-0-mig-1g10gb-19-1"),
    ]
    assert [e["mechanism"] for e in isolation(item)] == ["mig", "mig"]


def test_the_inference_pair_is_refused_on_a_full_gpu_for_both_alternatives(
    walkthrough: Walk,
) -> None:
    result = walkthrough("mig-dynamic").outcome(4)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "speech-pipeline-slices-x7k2p",
        "slices/two-1g: 0 of 26 devices fit (needs 2); 18 request selector is false, "
        "7 counters exhausted (counter multiprocessors of counter set gpu-0-counter-set "
        "(8 more needed)), 1 class selector is false",
        "slices/one-2g: 0 of 26 devices fit (needs 1); 22 request selector is false, "
        "3 counters exhausted (counter multiprocessors of counter set gpu-0-counter-set "
        "(24 more needed)), 1 class selector is false",
    )


@pytest.mark.parametrize("folder", ["mig-dynamic", "mig-static"])
def test_the_written_out_claim_is_what_the_controller_makes_from_the_template(
    folder: str,
) -> None:
    docs = list(yaml.safe_load_all((EXAMPLES / folder / "inference-pair.yaml").read_text()))
    by_kind = {doc["kind"]: doc for doc in docs}
    template, pod, claim = (by_kind[k] for k in ("ResourceClaimTemplate", "Pod", "ResourceClaim"))
    (pod_claim,) = pod["spec"]["resourceClaims"]
    assert pod_claim["resourceClaimTemplateName"] == template["metadata"]["name"]
    assert claim["spec"] == template["spec"]["spec"]
    assert claim["metadata"]["name"].startswith(f"{pod['metadata']['name']}-{pod_claim['name']}-")
    assert claim["metadata"]["annotations"] == {
        "resource.kubernetes.io/pod-claim-name": pod_claim["name"]
    }
    (owner,) = claim["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "Pod",
        pod["metadata"]["name"],
        True,
    )


# --------------------------------------------------------------------------- mig-static


def test_a_static_3g_40gb_instance_is_allocated(walkthrough: Walk) -> None:
    result = walkthrough("mig-static").outcome(1)
    assert result.exit_code == 0
    (item,) = claims(result).values()
    assert devices(item) == [("mig", "gpu-0-mig-3g40gb-9-0")]
    (entry,) = isolation(item)
    assert entry["mechanism"] == "mig"


def test_a_profile_missing_from_the_static_layout_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("mig-static").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "batch-inference-mig", "mig: 0 of 6 devices fit (needs 1); 6 request selector is false"
    )


def test_the_pair_falls_back_to_a_2g_20gb_when_no_gpu_has_two_1g_10gb(walkthrough: Walk) -> None:
    result = walkthrough("mig-static").outcome(3)
    assert result.exit_code == 0
    (item,) = claims(result).values()
    assert devices(item) == [("slices/one-2g", "gpu-0-mig-2g20gb-14-4")]


def test_without_the_constraint_the_pair_would_take_a_1g_10gb_of_each_gpu(
    scratch: Callable[[str], Path],
) -> None:
    """What the README says the matchAttribute constraint prevents."""
    workdir = scratch("mig-static")
    docs = yaml.safe_load_all((workdir / "inference-pair.yaml").read_text(encoding="utf-8"))
    (claim,) = [doc for doc in docs if doc["kind"] == "ResourceClaim"]
    del claim["spec"]["devices"]["constraints"]
    (workdir / "unconstrained.yaml").write_text(yaml.safe_dump(claim), encoding="utf-8")
    result = invoke("allocate", "-f", "cluster.yaml", "-f", "unconstrained.yaml")
    assert result.exit_code == 0
    (item,) = claims(result).values()
    assert devices(item) == [
        ("slices/two-1g", "gpu-0-mig-1g10gb-19-6"),
        ("slices/two-1g", "gpu-1-mig-1g10gb-19-6"),
    ]


# ------------------------------------------------------------------------------ mig-mps


def test_two_mps_claims_share_one_mig_instance(walkthrough: Walk) -> None:
    result = walkthrough("mig-mps").outcome(1)
    assert result.exit_code == 0
    items = claims(result)
    device = "gpu-0-mig-3g40gb-9-4"
    found = shares(items)
    assert {
        name: (d, c["activeThreadPercentage"], c["memory"]) for name, (d, c) in found.items()
    } == {
        "ocr-mig": (device, "50", "16Gi"),
        "translation-mig": (device, "40", "16Gi"),
    }
    (entry,) = isolation(items["ocr-mig"])
    assert entry["mechanism"] == "mig+mps"
    assert entry["enforced"] == {"activeThreadPercentage": "50", "pinnedMemoryLimit": "16Gi"}
    (config,) = items["ocr-mig"]["status"]["allocation"]["devices"]["config"]
    assert config["opaque"]["parameters"]["kind"] == "MigDeviceConfig"
    assert result.stderr.splitlines() == [
        f"allocated on node {NODE}",
        shared_line(
            "ocr-mig",
            "mig",
            device,
            "mig+mps",
            "activeThreadPercentage=50, pinnedMemoryLimit=16Gi",
        ),
        shared_line(
            "translation-mig",
            "mig",
            device,
            "mig+mps",
            "activeThreadPercentage=40, pinnedMemoryLimit=16Gi",
        ),
    ]


def test_an_mps_claim_over_the_instances_memory_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("mig-mps").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "captioning-mig",
        "mig: 0 of 4 devices fit (needs 1); 3 request selector is false, "
        "1 capacity too small (capacity memory: 512Mi short)",
    )


# --------------------------------------------------------------------- mig-time-slicing


def test_two_notebooks_share_a_1g_10gb_and_the_third_gets_a_new_instance(
    walkthrough: Walk,
) -> None:
    result = walkthrough("mig-time-slicing").outcome(1)
    assert result.exit_code == 0
    items = claims(result)
    found = shares(items)
    assert {name: (d, c["replicas"]) for name, (d, c) in found.items()} == {
        "notebook-0-mig": ("gpu-0-mig-1g10gb-19-0", "1"),
        "notebook-1-mig": ("gpu-0-mig-1g10gb-19-0", "1"),
        "notebook-2-mig": ("gpu-0-mig-1g10gb-19-1", "1"),
    }
    (entry,) = isolation(items["notebook-0-mig"])
    assert (entry["mechanism"], entry["enforced"], entry["note"]) == (
        "mig+time-slicing",
        {},
        "the MIG instance bounds all sharers together",
    )


def test_an_instance_overlapping_the_shared_ones_is_refused(walkthrough: Walk) -> None:
    result = walkthrough("mig-time-slicing").outcome(2)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == refusal(
        "training-mig",
        "mig: 0 of 26 devices fit (needs 1); 24 request selector is false, "
        "1 class selector is false, 1 counters exhausted (counter memory-slice-0 of counter "
        "set gpu-0-counter-set (1 more needed))",
    )


# ------------------------------------------------------------- known problems in src/


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("time-slicing-replicas", "replicas"),
        ("mps", "activeThreadPercentage"),
        ("fractional", "memory"),
        ("mig-mps", "memory"),
        ("mig-time-slicing", "memory-slice-0"),
    ],
)
def test_a_refusal_names_the_capacity_or_counter_that_ran_out(
    folder: str, name: str, walkthrough: Walk
) -> None:
    result = walkthrough(folder).outcome(2)
    assert result.exit_code == 1
    request_lines = [line for line in result.stderr.splitlines() if line.startswith("  request")]
    assert any(name in line for line in request_lines), request_lines


MPS_CONFIG_ABOVE_BOOKING = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: greedy-gpu
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu-mps.dralloc.io
        capacity:
          requests:
            activeThreadPercentage: 30
            memory: 20Gi
    config:
    - requests: ["gpu"]
      opaque:
        driver: gpu.nvidia.com
        parameters:
          apiVersion: resource.nvidia.com/v1beta1
          kind: GpuConfig
          sharing:
            strategy: MPS
            mpsConfig:
              defaultActiveThreadPercentage: 60
              defaultPinnedDeviceMemoryLimit: 40Gi
"""


def test_an_mps_config_above_what_the_claim_booked_is_reported(
    scratch: Callable[[str], Path],
) -> None:
    workdir = scratch("mps")
    (workdir / "greedy.yaml").write_text(MPS_CONFIG_ABOVE_BOOKING, encoding="utf-8")
    result = invoke("allocate", "-f", "cluster.yaml", "-f", "greedy.yaml")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert any("activeThreadPercentage" in line for line in warnings), result.stderr
