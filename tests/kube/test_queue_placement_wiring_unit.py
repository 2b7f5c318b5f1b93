"""How `dralloc scheduler` wires admission that knows placement into the queue controller:
on by default with the scheduler's own profiles and ownership rule, off with
`--no-queue-placement` (Kueue's quota-only admission)."""

from __future__ import annotations

import asyncio

import httpx2
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.features import Features
from dralloc.kube.client import NODES, PODS, RESOURCE_CLAIMS, RESOURCE_SLICES, KubeClient
from dralloc.kube.controllers.queue import QueueController
from dralloc.kube.live import LiveOptions
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.server import ServerOptions, _Process
from dralloc.scheduler.config import ProfileConfig, SchedulerConfiguration


def queue_controller(
    queue_placement: bool | None, controllers: tuple[str, ...] = ("scheduler", "queue")
) -> QueueController:
    async def build() -> QueueController:
        client = KubeClient(httpx2.AsyncClient(base_url="https://127.0.0.1:1"))
        live = LiveOptions(
            Features(),
            config=SchedulerConfiguration(profiles=(ProfileConfig(scheduler_name="gpu"),)),
            ownership=Ownership(parse_label_selector("dralloc.dev/owner=dralloc")),
        )
        options = ServerOptions(live, controllers=controllers, queue_placement=queue_placement)
        process = _Process(options, client)
        await client.aclose()
        (controller,) = process.controllers
        assert isinstance(controller, QueueController)
        return controller

    return asyncio.run(build())


def test_the_queue_controller_checks_placement_with_the_schedulers_profiles_by_default() -> None:
    controller = queue_controller(None)
    assert controller.cluster is not None
    options = controller.cluster.options
    assert [p.scheduler_name for p in options.config.profiles] == ["gpu"]
    assert options.ownership.owns_node({"dralloc.dev/owner": "dralloc"})
    assert not options.ownership.owns_node({})
    watched = {i.resource for i in controller.informers}
    assert {NODES, RESOURCE_SLICES, RESOURCE_CLAIMS, PODS} <= watched


def test_no_queue_placement_leaves_admission_on_quota_alone() -> None:
    controller = queue_controller(False)
    assert controller.cluster is None
    watched = {i.resource for i in controller.informers}
    assert not {NODES, RESOURCE_SLICES, RESOURCE_CLAIMS, PODS} & watched


def test_without_the_scheduler_in_the_process_placement_is_on_only_when_asked() -> None:
    # Such a process may run under the queue controller's role alone, which reads no nodes.
    assert queue_controller(None, ("queue",)).cluster is None
    assert queue_controller(True, ("queue",)).cluster is not None


def test_the_scheduler_help_names_the_switch() -> None:
    result = CliRunner().invoke(app, ["scheduler", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--no-queue-placement" in result.output
    assert "PlacementInfeasible" in result.output
