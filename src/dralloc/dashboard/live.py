"""The dashboard of a live `dralloc scheduler` (`--dashboard HOST:PORT`): a companion task
that samples the scheduler's cache in its own event loop and publishes the fleet document
for the dashboard's HTTP threads.

    dashboard = LiveDashboard(server, explain=explain_live)      # the CLI binds the server
    ServerOptions(..., companions=(dashboard,))                   # kube/server.py runs it

What it reads, all in memory and never the API server: the scheduler cache (nodes, slices,
claims, allocations), the scheduling queues (pending pods), the pods informer's store (each
pending pod's PodScheduled message, as the scheduler wrote it) and, when the queue
controller runs in the same process, its ClusterQueue, Workload and ResourceClaimTemplate
informers' stores: the claims of the Workloads Kueue has not admitted (their jobs
suspended, so no pod or claim exists yet) weigh in the fragmentation tile, as the offline
dashboard weighs them.

Every `interval` seconds it builds a fingerprint of what the document depends on (the
cache's change journal position, its inventory, the claims, the pending pods and their
messages, the ClusterQueues' and waiting Workloads' resourceVersions) and builds and
publishes a new document, with a history sample, when that changed or `sample_every` seconds
passed since the last one (so the history has a point at least that often, and at most one
per `interval`). A build runs
in the scheduler's event loop, so after one that took t seconds the next waits at least 9 t:
the dashboard takes at most about a tenth of the loop (a 500-node DGX H100 dynamic-MIG fleet,
about 100,000 published devices, builds in about 0.1-0.2 s once `FleetBuilder` remembers its
devices' facts). The builder's memory is dropped with the slices it was about.
An explanation is computed on demand: the HTTP thread hands the question to the event loop
(`run_coroutine_threadsafe`) and waits at most `EXPLAIN_TIMEOUT_SECONDS`.

Nothing here may stop the scheduler: every failure is logged and the loop goes on; a
failing explanation answers 500 to the browser that asked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from dralloc.api.core import Pod
from dralloc.api.io import from_server
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.dashboard.fleet import SCHEMA, FleetBuilder, PendingPodView, PriceBook
from dralloc.dashboard.queues import held_claims
from dralloc.dashboard.server import DashboardServer
from dralloc.dashboard.state import Sample
from dralloc.kube.live import LiveScheduler
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing.objects import GROUP as KUEUE_GROUP
from dralloc.queueing.objects import Workload

log = logging.getLogger(__name__)

EXPLAIN_TIMEOUT_SECONDS = 20.0
# After a build that took t seconds the sampler waits at least this many t, so the dashboard
# takes at most about a tenth of the event loop whatever the fleet's size.
LOOP_SHARE_FACTOR = 9.0
# A pod the mirror holds back until its template's claims exist (mirror.py).
AWAITING_CLAIMS = "waiting for the claims of its templates to be created"

JSON = dict[str, Any]
# (the live scheduler, the pending pod) -> `dralloc explain --pod -o json`'s document.
LiveExplainer = Callable[[LiveScheduler, Pod], JSON]


def _pod_scheduled_message(raw: dict[str, Any] | None) -> str:
    if raw is None:
        return ""
    for condition in (raw.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "")
    return ""


class LiveDashboard:
    """Publishes a live scheduler's fleet to a bound `DashboardServer` (see the module
    docstring). `run` is the companion's body: kube/server.py starts it once the informers
    have synced and cancels it on shutdown."""

    def __init__(
        self,
        server: DashboardServer,
        explain: LiveExplainer,
        *,
        prices: PriceBook | None = None,
        interval: float = 1.0,
        sample_every: float = 5.0,
    ) -> None:
        self.server = server
        self.explain = explain
        self.prices = prices
        self.interval = interval
        self.sample_every = sample_every
        self.builder = FleetBuilder()
        self._live: LiveScheduler | None = None
        self._informers: SharedInformers | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, live: LiveScheduler | None, informers: SharedInformers) -> None:
        self._live, self._informers = live, informers
        self._loop = asyncio.get_running_loop()
        self.server.set_explainer(self.explain_threadsafe)
        self.server.start()
        fingerprint: Hashable = None
        next_sample = 0.0
        try:
            while True:
                try:
                    now = time.time()
                    current = self.fingerprint()
                    due = now >= next_sample
                    pause = self.interval
                    if current != fingerprint or due:
                        started = time.perf_counter()
                        document = self.document(now)
                        self.server.published.publish(document, Sample.of(now, document))
                        fingerprint = current
                        next_sample = now + self.sample_every
                        # Building runs in the scheduler's loop: keep it to a tenth of the time.
                        pause = max(pause, LOOP_SHARE_FACTOR * (time.perf_counter() - started))
                except Exception:
                    log.exception("the dashboard could not sample the scheduler")
                await asyncio.sleep(pause)
        finally:
            await asyncio.to_thread(self.server.stop)

    # -- reading the scheduler (in its event loop only) ---------------------------------

    def _pending(self) -> list[PendingPodView]:
        live = self._live
        if live is None:
            return []
        out = []
        for profile, queue in live.queues.items():
            for pending in queue.pending_pods():
                info = pending.info
                raw = live.pods.get(info.key)
                out.append(
                    PendingPodView(
                        info.key, _pod_scheduled_message(raw), str(pending.queue), profile
                    )
                )
        for key in sorted(live.mirror.awaiting_claims):
            out.append(PendingPodView(key, AWAITING_CLAIMS, "gated"))
        return out

    def _store(self, plural: str, group: str) -> dict[str, Any]:
        """The store of the informer of `plural` in API group `group`, if one runs."""
        informers = self._informers
        if informers is None:
            return {}
        for informer in informers.informers:
            resource = informer.resource
            if resource.plural == plural and resource.group_version.startswith(group + "/"):
                return informer.store
        return {}

    def _cluster_queues(self) -> list[dict[str, Any]]:
        store = self._store("clusterqueues", KUEUE_GROUP)
        return [store[k] for k in sorted(store)]

    def _waiting_workloads(self) -> list[dict[str, Any]]:
        """The Workloads Kueue has not admitted (no `status.admission`): their jobs are
        suspended, so their pods and claims do not exist yet."""
        store = self._store("workloads", KUEUE_GROUP)
        return [
            store[k] for k in sorted(store) if not (store[k].get("status") or {}).get("admission")
        ]

    def _held_claims(self) -> list[ResourceClaim]:
        """The claims the waiting Workloads' pods will ask for (`queues.held_claims`), from
        the ResourceClaimTemplates' informer (both informers run when the queue controller
        runs in this process; without them, none)."""
        waiting = self._waiting_workloads()
        if not waiting:
            return []
        templates = {}
        for raw in self._store("resourceclaimtemplates", "resource.k8s.io").values():
            template = from_server(raw, ResourceClaimTemplate)
            templates[(template.metadata.namespace, template.metadata.name)] = template
        return held_claims([from_server(raw, Workload) for raw in waiting], templates)

    def fingerprint(self) -> Hashable:
        live = self._live
        if live is None:
            return None
        cache = live.cache
        pending = tuple((p.pod, p.message) for p in self._pending())
        queues = tuple(
            str((q.get("metadata") or {}).get("resourceVersion", ""))
            for q in (*self._cluster_queues(), *self._waiting_workloads())
        )
        claims = tuple(
            (key, claim.metadata.resource_version, claim.status.allocation is not None)
            for key, claim in sorted(cache.claims.items())
        )
        return (len(cache.journal), id(cache.inventory), claims, pending, queues)

    def document(self, now: float) -> JSON:
        live = self._live
        if live is None:
            return build_fleet_without_scheduler(now)
        # The mirror keeps only owned nodes in the cache: every row is one of dralloc's.
        return self.builder.build(
            live.cache,
            pending=self._pending(),
            cluster_queues=self._cluster_queues(),
            prices=self.prices,
            generated_at=_iso(now),
            source="live: dralloc scheduler",
            waiting_claims=self._held_claims(),
        )

    # -- explanations (asked from the HTTP threads) -------------------------------------

    def explain_threadsafe(self, pod: str) -> JSON | None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return None
        future = asyncio.run_coroutine_threadsafe(self._explain(pod), loop)
        try:
            return future.result(timeout=EXPLAIN_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    async def _explain(self, pod: str) -> JSON | None:
        live = self._live
        if live is None:
            return None
        if pod in live.mirror.awaiting_claims:
            return {"pod": pod, "gated": AWAITING_CLAIMS}
        for queue in live.queues.values():
            for pending in queue.pending_pods():
                if pending.info.key != pod:
                    continue
                gate = pending.info.gating_status
                if pending.info.is_gated and gate is not None:
                    # PreEnqueue holds it: never tried, as `dralloc explain --pod` says.
                    return {"pod": pod, "gated": gate.message}
                return self.explain(live, pending.info.pod)
        return None


def _iso(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_fleet_without_scheduler(now: float) -> JSON:
    """The document of a process that runs controllers but no scheduler: nothing to show."""
    return {
        "schema": SCHEMA,
        "generatedAt": _iso(now),
        "source": "live: no scheduler in this process (--controllers has no scheduler)",
        "summary": {
            "nodes": 0,
            "gpus": 0,
            "usedGpus": 0.0,
            "utilization": 0.0,
            "fragmentation": 0.0,
            "pendingPods": 0,
            "costPerHour": 0.0,
            "usedCostPerHour": 0.0,
            "idleCostPerHour": 0.0,
            "unpricedModels": [],
        },
        "nodes": [],
        "pending": [],
        "queues": [],
    }
