"""The dashboard over a simulation's final state (`dralloc dashboard --replay TRACE`): one
replay run in process, the cluster it leaves drawn with the pods still running where the
replay put them, the pods it left waiting, and its samples as the history."""

from __future__ import annotations

import math
from typing import Any

import pytest
from typer.testing import CliRunner

from dralloc.cli.dashboard import price_book
from dralloc.cli.main import app
from dralloc.dashboard.replayed import replayed_state, with_trace_models
from dralloc.errors import InputError
from dralloc.sim.campaign import RunSpec
from dralloc.sim.replay.results import PodState
from dralloc.sim.traces.openb import openb_models

# 40 pods on 2 nodes, arriving about every 20 s and running about 10 min: busy early on.
SMALL = "synthetic:pods=40,nodes=2,rate=0.05,median=600"


# Two tenants with 16 GPUs of quota each on two 8-GPU nodes, jobs arriving every 10 s or so
# and running about an hour: at 300 s some jobs are admitted and wait for a node, others wait
# for their queue's admission.
QUEUED = "synthetic-jobs:jobs=30,tenants=2,quotas=16,rate=0.1,median=3600,seed=1,nodes=2"


def _drawn(document: dict[str, Any]) -> dict[str, str]:
    """Pod -> node, for every pod holding a GPU in the document."""
    return {
        pod: node["name"]
        for node in document["nodes"]
        for gpu in node["gpus"]
        for device in gpu["devices"]
        for claim in device["claims"]
        for pod in claim["pods"]
    }


def test_at_a_moment_the_fleet_draws_the_pods_running_where_the_replay_put_them() -> None:
    state = replayed_state(RunSpec(SMALL, "fgd", 1), at=400.0)
    result = state.result
    assert result.end_time == 400.0
    running = {f"default/{p.name}": p.node for p in result.pods if p.state is PodState.RUNNING}
    assert running  # the moment is a busy one
    on_nodes = {pod: node["name"] for node in state.document["nodes"] for pod in node["pods"]}
    assert on_nodes == running
    with_gpus = {f"default/{p.name}" for p in result.pods if p.gpu_milli > 0}
    assert _drawn(state.document) == {k: v for k, v in running.items() if k in with_gpus}
    summary = state.document["summary"]
    assert summary["nodes"] == 2 and summary["usedGpus"] > 0
    waiting = [p for p in result.pods if p.state is PodState.PENDING]
    assert [p["pod"] for p in state.document["pending"]] == sorted(
        f"default/{p.name}" for p in waiting
    )
    assert state.document["source"] == f"replay: {SMALL}, fgd, seed 1"
    assert state.document["notes"][0].startswith(
        "the cluster as the replay leaves it at 400 s on the trace's clock (--at):"
    )
    # The history is the replay's samples up to the moment, on the trace's clock.
    times = [s.time for s in state.history]
    assert times == sorted(times) and times[-1] <= 400.0
    assert state.history[-1].gpus == summary["gpus"]


def test_an_at_past_the_last_event_stops_there_and_an_infinite_one_is_refused() -> None:
    state = replayed_state(RunSpec(SMALL, "fgd", 1), at=1e6)
    end = state.result.end_time
    assert end < 1e6 and all(p.state is not PodState.RUNNING for p in state.result.pods)
    assert state.document["notes"][0] == (
        f"--at 1e+06 s is past the replay's last event: it stopped at {end:,.0f} s, drawn here"
    )
    assert state.history[-1].time <= end
    # Between the last arrival and the natural end the moment is still drawn as asked.
    busy = replayed_state(RunSpec(SMALL, "fgd", 1), at=end - 1)
    assert busy.result.end_time == end - 1
    assert any(p.state is PodState.RUNNING for p in busy.result.pods)
    for at in (math.inf, math.nan):
        with pytest.raises(InputError, match="is not a finite number of seconds >= 0"):
            replayed_state(RunSpec(SMALL, "fgd", 1), at=at)


def test_a_trace_with_nothing_to_replay_says_so() -> None:
    with pytest.raises(InputError) as empty:
        replayed_state(RunSpec("synthetic-jobs:jobs=0", "fgd", 1))
    assert str(empty.value) == (
        "--replay: synthetic-jobs:jobs=0 has nothing to replay: no pod arrives and no node changes"
    )


def test_queued_pods_not_yet_admitted_are_labelled_as_waiting_for_admission() -> None:
    state = replayed_state(RunSpec(QUEUED, "fgd", 1, queues="besteffortfifo"), at=300.0)
    assert state.scheduling is not None
    by_queue: dict[str, set[str]] = {}
    for pod in state.document["pending"]:
        by_queue.setdefault(pod["queue"], set()).add(pod["pod"])
    assert set(by_queue) == {"admission", "unschedulable"}
    assert by_queue["unschedulable"] == state.scheduling
    held = sorted(by_queue["admission"])[0]
    explained = state.explain(held)
    assert explained is not None
    assert explained["message"].startswith("waiting for its queue's admission when the replay")


def test_the_claims_of_pods_the_admission_holds_count_in_the_fragmentation_tile() -> None:
    # Tenants of 12 GPUs, jobs of 1 or (mostly) 8 GPUs on four 8-GPU nodes: at 300 s every
    # pending pod is held by the admission (no claim in the cache), the typical one asks for 8
    # GPUs, so of the 10 free GPUs the 2 beside a running job are stranded.
    trace = (
        "synthetic-jobs:jobs=20,tenants=2,quotas=12,rate=0.1,median=3600,seed=1,nodes=4,"
        "gpus=1|8,weights=1|4"
    )
    state = replayed_state(RunSpec(trace, "fgd", 1, queues="besteffortfifo"), at=300.0)
    assert {p["queue"] for p in state.document["pending"]} == {"admission"}
    free = sorted(sum(1 - g["used"] for g in n["gpus"]) for n in state.document["nodes"])
    assert free == [0, 0, 2, 8]
    assert state.document["summary"]["fragmentation"] == 0.2


def test_at_its_end_a_replay_leaves_no_pod_running() -> None:
    state = replayed_state(RunSpec(SMALL, "bestfit", 1))
    assert all(p.state is not PodState.RUNNING for p in state.result.pods)
    assert _drawn(state.document) == {}
    assert all(node["pods"] == [] for node in state.document["nodes"])
    assert state.document["summary"]["usedGpus"] == 0.0
    assert state.explain("default/nobody") is None


def test_the_command_serves_a_replay_and_refuses_what_it_cannot_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRALLOC_DASHBOARD_TOKEN", raising=False)
    serve = ["dashboard", "--address", "127.0.0.1:0", "--for", "0.01"]
    result = CliRunner().invoke(app, [*serve, "--replay", SMALL, "--seed", "1", "--at", "400"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("dashboard on http://127.0.0.1:")
    assert "(2 nodes, " in result.stderr
    both = CliRunner().invoke(app, [*serve, "--replay", SMALL, "-f", "x.yaml"])
    assert (both.exit_code, both.stderr) == (
        2,
        "give one of -f FILE, --replay TRACE, --fgd TRACE, not -f FILE and --replay TRACE\n",
    )
    stray = CliRunner().invoke(app, [*serve, "-f", "x.yaml", "--at", "5", "--queues", "fair"])
    assert (stray.exit_code, stray.stderr) == (2, "--queues, --at: apply to --replay only\n")
    for args, message in (
        (["--queues", "fair"], f"--queues: {SMALL} has no tenants to make queues of"),
        (["--policy", "tetris"], "--policy: unknown policy 'tetris' (known: random,"),
        (["--at", "-5"], "--at: -5 is not a finite number of seconds >= 0"),
        (["--at", "inf"], "--at: inf is not a finite number of seconds >= 0"),
    ):
        bad = CliRunner().invoke(app, [*serve, "--replay", SMALL, *args])
        assert isinstance(bad.exception, InputError), bad.output
        assert str(bad.exception).startswith(message), str(bad.exception)
    # The trace loaders name the trace `--trace <workload>`: here it is `--replay <workload>`.
    for trace, line in (
        ("synthetic-jobs:jobz=5", "--replay synthetic-jobs:jobz=5: jobz: unknown option (known: "),
        (
            "nosuch",
            "--replay nosuch: unknown workload for a replay, expected one of openb:<variant>, "
            "dlrm[:key=value,...], synthetic[:key=value,...], itp-elasticflow[:key=value,...], "
            "dlrm-jobs[:key=value,...], synthetic-jobs[:key=value,...]",
        ),
    ):
        bad = CliRunner().invoke(app, [*serve, "--replay", trace])
        assert isinstance(bad.exception, InputError), bad.output
        assert str(bad.exception).startswith(line), str(bad.exception)


def test_a_traces_own_gpu_models_are_priced_as_simulate_prices_them() -> None:
    # openb's G2 is a trace-only model (catalog name openb-g2): its devices publish a product
    # name the catalog does not know, priced through the trace's models.
    models = openb_models()
    book = with_trace_models(price_book("openb-g2=1.25"), models)
    g2 = models.model("G2").product_name
    assert book.price(g2) == 1.25
    assert all(book.price(m.product_name) is not None for m in models.by_code.values())
    assert price_book(None).price(g2) is None  # the catalog alone does not know it
