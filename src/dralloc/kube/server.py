"""One `dralloc scheduler` process (spec/cluster-mode.md section 2): the client, the shared
informers, the live scheduler and the controllers asked for, leader election, and the
metrics and health endpoints, started in order and stopped in reverse.

    code = asyncio.run(serve(ServerOptions(live=LiveOptions(Features()))))

Start-up: load the kubeconfig; build the scheduler and controllers (their informer handlers
registered); refuse controllers a live kube-controller-manager already runs; serve /metrics,
/healthz and /readyz; start the informers and wait until every one has listed; then take
part in leader election (or lead at once without it). Only the leader pops pods and runs
controllers; a standby keeps its caches warm. SIGTERM or SIGINT: stop popping, let binding
cycles finish (bounded), release the Lease, exit 0. Leadership lost: stop writing at once and
exit 1, for a supervisor to restart the process.

Companions (`ServerOptions.companions`, the dashboard of `--dashboard`) run beside the
scheduler in the same event loop once the informers have synced, reading its cache between
cycles; they never write to the API server, and one that fails is logged and left stopped:
the scheduler goes on and the exit code stays the scheduler's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dralloc.kube.client import KubeClient
from dralloc.kube.controllers import (
    Controller,
    ControllerConflict,
    build_controllers,
    check_no_controller_manager,
)
from dralloc.kube.controllers.queuecluster import LivePlacement
from dralloc.kube.controllers.queueready import WaitForPodsReady
from dralloc.kube.health import DEFAULT_ADDRESS, HealthServer
from dralloc.kube.leader import (
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseForbidden,
    default_identity,
)
from dralloc.kube.live import LiveOptions, LiveScheduler, unschedulable_by_plugin
from dralloc.kube.metrics import QueueName, SchedulerMetrics, accelerator_report
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

# The scheduling queue's places, by kube-scheduler's pending_pods label.
_METRIC_QUEUES = {
    "activeQ": QueueName.ACTIVE,
    "podBackoffQ": QueueName.BACKOFF,
    "podErrorBackoffQ": QueueName.BACKOFF,
    "unschedulablePods": QueueName.UNSCHEDULABLE,
    "gated": QueueName.GATED,
}


class Companion(Protocol):
    """A read-only service run beside the scheduler in its process and event loop.

    `run` is started once the informers have synced, with the live scheduler (None when
    `--controllers` has no scheduler) and the shared informers; it runs until cancelled at
    shutdown. It may read their state between its awaits (everything here runs in one event
    loop) and must change none of it, nor write to the API server. An exception it raises is
    logged; nothing else stops."""

    async def run(self, live: LiveScheduler | None, informers: SharedInformers) -> None: ...


async def _run_companion(
    companion: Companion, live: LiveScheduler | None, informers: SharedInformers
) -> None:
    try:
        await companion.run(live, informers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s stopped; the scheduler goes on", type(companion).__name__)


EXIT_OK = 0
EXIT_LOST = 1
EXIT_INPUT = 2
EXIT_FAILED = 3


@dataclass(frozen=True)
class ServerOptions:
    live: LiveOptions
    kubeconfig: Path | None = None
    context: str | None = None
    qps: float = 50.0
    burst: int = 100
    controllers: tuple[str, ...] = ("scheduler",)
    leader_elect: bool = True
    lease_namespace: str = "kube-system"
    lease_name: str = "dralloc"
    metrics_address: str = DEFAULT_ADDRESS
    sync_timeout_seconds: float = 60.0
    # Stop after this many seconds (a bounded run, for demos and tests); None: until signalled.
    run_for_seconds: float | None = None
    # The queue controller admits a Workload only if the scheduler's profiles could place its
    # pods now (False: quota only, as Kueue). None: when the scheduler runs in this process,
    # whose informers (and role) already read the Nodes, ResourceSlices, claims and pods.
    queue_placement: bool | None = None
    # Kueue's waitForPodsReady for the queue controller (`--queue-config`); None: off.
    queue_wait_for_pods_ready: WaitForPodsReady | None = None
    identity: str = field(default_factory=default_identity)
    # Read-only services run beside the scheduler (the dashboard); see `Companion`.
    companions: tuple[Companion, ...] = ()


class _Process:
    def __init__(self, options: ServerOptions, client: KubeClient) -> None:
        self.options = options
        self.client = client
        self.rng = random.Random(options.live.rng_seed)
        self.informers = SharedInformers(client, random.Random(self.rng.random()))
        names = [n.strip() for n in options.controllers if n.strip()]
        self.live: LiveScheduler | None = None
        self.metrics = SchedulerMetrics()
        if "scheduler" in names:
            self.live = LiveScheduler(client, self.informers, options.live, metrics=self.metrics)
            live = self.live
            self.metrics.set_accelerator_source(lambda: accelerator_report(live.cache))
        live_options = options.live
        wanted = options.queue_placement
        if wanted is None:
            wanted = "scheduler" in names
        placement = (
            LivePlacement(live_options.features, live_options.config, live_options.ownership)
            if wanted
            else None
        )
        self.controllers: list[Controller] = build_controllers(
            names,
            client,
            self.informers,
            rng=self.rng,
            queue_placement=placement,
            queue_wait_for_pods_ready=options.queue_wait_for_pods_ready,
        )
        self._controller_tasks: list[asyncio.Task[None]] = []
        self.leading = False

    def start_leading(self) -> None:
        log.info("leading: scheduling and controllers start")
        self.leading = True
        if self.live is not None:
            self.live.start_leading()
        for controller in self.controllers:
            task = asyncio.create_task(controller.run(), name=f"controller {controller.name}")
            self._controller_tasks.append(task)

    def stop_leading(self) -> None:
        log.warning("no longer leading: scheduling and controllers stop")
        self.leading = False
        if self.live is not None:
            self.live.stop_leading()
        for task in self._controller_tasks:
            task.cancel()

    async def report_queues(self) -> None:
        while True:
            if self.live is not None:
                counts = dict.fromkeys(QueueName, 0)
                for queue in self.live.queues.values():
                    for pending in queue.pending_pods():
                        where = _METRIC_QUEUES.get(str(pending.queue))
                        if where is not None:
                            counts[where] += 1
                # Pods held for their template's claim are gated, as upstream counts them.
                counts[QueueName.GATED] += len(self.live.mirror.awaiting_claims)
                self.metrics.set_pending_pods(counts)
                self.metrics.set_unschedulable_pods(unschedulable_by_plugin(self.live.queues))
            await asyncio.sleep(1.0)

    def is_ready(self) -> bool:
        return self.informers.is_synced


async def serve(options: ServerOptions, *, stop: asyncio.Event | None = None) -> int:
    """Run one scheduler process until `stop` is set (or SIGTERM/SIGINT); the exit code."""
    client = KubeClient.connect(
        options.kubeconfig, context=options.context, qps=options.qps, burst=options.burst
    )
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    process = _Process(options, client)
    health = HealthServer(
        process.metrics.registry,
        address=options.metrics_address,
        healthy=lambda: process.informers.is_running,
        ready=process.is_ready,
    )
    tasks: list[asyncio.Task[object]] = []
    companion_tasks: list[asyncio.Task[None]] = []
    elector: LeaderElector | None = None
    code = EXIT_OK
    try:
        if process.controllers:
            await check_no_controller_manager(client, [c.name for c in process.controllers])
        await health.start()
        log.info("metrics and health on %s", health.url)
        await process.informers.start()
        started = time.monotonic()
        await process.informers.wait_synced(options.sync_timeout_seconds)
        log.info("informers synced in %.2f s", time.monotonic() - started)
        for companion in options.companions:
            companion_tasks.append(
                asyncio.create_task(
                    _run_companion(companion, process.live, process.informers),
                    name=f"companion {type(companion).__name__}",
                )
            )
        if process.live is not None:
            tasks.append(asyncio.create_task(process.live.run(), name="scheduling loop"))
        tasks.append(asyncio.create_task(process.report_queues(), name="queue metrics"))
        if options.leader_elect:
            config = LeaderElectionConfig(
                namespace=options.lease_namespace,
                name=options.lease_name,
                identity=options.identity,
            )
            elector = LeaderElector(client, config, rng=random.Random(process.rng.random()))
            tasks.append(
                asyncio.create_task(
                    elector.run(process.start_leading, process.stop_leading),
                    name="leader election",
                )
            )
        else:
            process.start_leading()
        stopper = asyncio.create_task(stop.wait(), name="stop")
        timer = (
            asyncio.create_task(asyncio.sleep(options.run_for_seconds))
            if options.run_for_seconds is not None
            else None
        )
        watched = [stopper, *tasks, *([timer] if timer is not None else [])]
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopper or task is timer:
                continue
            error = task.exception()
            if isinstance(error, LeadershipLost):
                log.error("leadership lost: %s", error)
                code = EXIT_LOST
            elif isinstance(error, LeaseForbidden):
                log.error("cannot use the Lease: %s", error)
                code = EXIT_FAILED
            elif error is not None:
                log.error("%s stopped: %r", task.get_name(), error)
                code = EXIT_FAILED
        stopper.cancel()
        if timer is not None:
            timer.cancel()
    except ControllerConflict as err:
        log.error("%s", err)
        code = EXIT_INPUT
    except TimeoutError as err:
        log.error("%s", err)
        code = EXIT_FAILED
    finally:
        if process.live is not None and code != EXIT_LOST:
            await process.live.shutdown()
        elif process.live is not None:
            process.live.stop_leading()
        for task in [*tasks, *process._controller_tasks, *companion_tasks]:
            task.cancel()
        await asyncio.gather(
            *tasks, *process._controller_tasks, *companion_tasks, return_exceptions=True
        )
        if elector is not None and elector.is_leader and code != EXIT_LOST:
            with contextlib.suppress(Exception):
                await elector.release()
        await process.informers.stop()
        await health.stop()
        await client.aclose()
    return code


def parse_controllers(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


__all__: Sequence[str] = ["Companion", "ServerOptions", "parse_controllers", "serve"]
