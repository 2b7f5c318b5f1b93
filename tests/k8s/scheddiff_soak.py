"""A long run of the scheduler differential's generated families, outside CI.

    .venv/bin/python tests/k8s/scheddiff_soak.py --examples 500 [--dra 200] [--seed N] [--big]

Starts its own etcd, kube-apiserver, kube-scheduler and kube-controller-manager (binaries from
tools/build.sh) on 127.0.0.1, draws cases from `scheddiff_cases` (random, unlike CI's fixed
ones; `--seed` repeats a run), compares each as the differential test does, and writes every
case that differs, shrunk by hypothesis, into tests/data/scheduler_differential/generated/
as `soak-<name>.yaml`, where the corpus test compares it from then on. Prints one line per
disagreement and a summary; exits 1 when any was found. Stops every process it started.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from apiclient import ApiClient
from controlplane import ApiServer, Etcd, KubeControllerManager, KubeScheduler
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from scheddiff import Scenario, differences, run_dralloc_recording_ties, run_on_cluster
from scheddiff_cases import (
    CORPUS,
    CaseNames,
    generated_dra_scenarios,
    generated_scenarios,
    stepwise_differences,
)
from scheddiff_known import unexplained


def _save(scenario: Scenario, found: list[str]) -> Path:
    """The case in the hand-written format, its differences as the description."""
    path = CORPUS / f"soak-{scenario.name}.yaml"
    document: dict[str, Any] = {
        "description": "Found by scheddiff_soak.py: " + "; ".join(found),
        "objects": list(scenario.objects),
        "pods": list(scenario.pods),
    }
    if scenario.known is not None:
        document["known"] = scenario.known
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=100))
    return path


def _compare(client: ApiClient, scenario: Scenario, *, whole_run: bool) -> list[str]:
    """The differences, or none for a case that cannot be compared: dralloc met a tie (whole
    runs), or kube-scheduler bound a pod on a retry after its turn."""
    if whole_run:
        local, ties = run_dralloc_recording_ties(scenario)
        if ties:
            return []
        upstream = run_on_cluster(client, scenario)
        if upstream.late:
            return []
        return unexplained(scenario, differences(upstream, local.observed))
    upstream = run_on_cluster(client, scenario)
    return [] if upstream.late else stepwise_differences(scenario, upstream)


def _run_family(
    client: ApiClient,
    family: Any,
    count: int,
    whole_run: bool,
    names: CaseNames,
    run_seed: int | None,
) -> Path | None:
    """`count` cases of one family; the first that differs, shrunk and kept, or None."""

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        scenario = data.draw(family(names))
        found = _compare(client, scenario, whole_run=whole_run)
        if found:
            print(f"{scenario.name}: " + " | ".join(found), flush=True)
        assert not found, (scenario, found)

    if run_seed is not None:
        case = seed(run_seed)(case)
    try:
        case()
    except AssertionError as error:
        scenario, found = error.args[0]
        return _save(scenario, found)
    return None


def soak(
    client: ApiClient, examples: int, dra: int, run_seed: int | None, big: bool = False
) -> list[Path]:
    names = CaseNames(prefix=f"soak{int(time.time()) % 100000}")
    plain = functools.partial(generated_scenarios, max_nodes=8, max_pods=10) if big else None
    saved = [
        _run_family(client, family, count, whole_run, names, run_seed)
        for family, count, whole_run in (
            (plain or generated_scenarios, examples, False),
            (generated_dra_scenarios, dra, True),
        )
        if count
    ]
    return [path for path in saved if path is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="cases of the plain family")
    parser.add_argument("--dra", type=int, default=100, help="cases of the DRA family")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run")
    parser.add_argument(
        "--big", action="store_true", help="up to 8 nodes and 10 pods a case (CI: 4 and 6)"
    )
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="dralloc-scheddiff-soak-"))
    started = time.monotonic()
    etcd = Etcd.start(directory / "etcd")
    processes: list[Any] = [etcd]
    try:
        apiserver = ApiServer.start(etcd.client_url, directory / "apiserver")
        processes.append(apiserver)
        processes.append(KubeScheduler.start(apiserver, directory / "kube-scheduler"))
        processes.append(KubeControllerManager.start(apiserver, directory / "kcm"))
        saved = soak(apiserver.admin, args.examples, args.dra, args.seed, args.big)
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(directory, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    print(
        f"{args.examples} + {args.dra} DRA cases in {minutes:.1f} min: "
        f"{len(saved)} disagreement(s)" + "".join(f"\n  kept {path}" for path in saved)
    )
    return 1 if saved else 0


if __name__ == "__main__":
    sys.exit(main())
