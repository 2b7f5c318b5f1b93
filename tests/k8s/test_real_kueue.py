"""dralloc's offline admission against the real Kueue v0.17.0 on the same objects.

One kube-apiserver and one Kueue manager (`sigs.k8s.io/kueue/cmd/kueue`, built by
tools/build.sh from tools/kueue) serve the whole module. Every scenario lives in objects of its
own (namespace `rk-<scenario>`, cluster-scoped names prefixed `<scenario>-`, a cohort tree of
its own), so all scenarios run side by side in one Kueue and never share quota.

Kueue admits as objects arrive, while dralloc's `schedule` sees a batch. Three things make the
live run a batch too:

* Every ClusterQueue of a scenario names, in a resource group of its own, a ResourceFlavor
  `<scenario>-gate` for a resource no Job requests (`example.com/gate`, quota 0). Until that
  flavor exists, every ClusterQueue of the scenario is inactive (FlavorNotFound) and Kueue
  queues Workloads without admitting any; creating the flavor makes all of them active in one
  step of Kueue's cache (one event, one broadcast), so the first cycle sees every head.
* Kueue orders a queue by priority, then creation time (one-second resolution on the API
  server), then UID, which is random. So a scenario's Jobs are created one per second, round
  by round (all scenarios' round k at once), and the next round starts only after every
  Workload of the previous one exists and the clock has passed its second: Workload creation
  times then differ within a scenario and the order is the same for both.
* dralloc reads the objects back from the API server (the Workloads Kueue created, without
  their status), so it sees the defaults the CRDs applied and the same creation times. It
  also builds the Workloads from the Jobs (`add_job_workloads`) and must find that every one
  is already there under the same name, as Kueue's Job integration named it.

Jobs of a later wave (`Job.wave == 1`) arrive one per scenario at a time, each after Kueue
settled on the previous ones, to preempt what it admitted; dralloc adds them one at a time
too, and moves its clock a second per cycle, since Kueue orders preemption candidates of one
priority newest-admitted first. The random scenarios give every Job its own priority: two of
one priority admitted within the same second would leave Kueue's choice of victim to UIDs.

Once Kueue has counted every Workload and nothing changed for a while, the test reads
which Workloads hold quota (QuotaReserved) and are Admitted, their flavors per pod set, and
which were preempted (`status.schedulingStats.evictions` with reason Preempted); dralloc then
admits the same objects (schedule with ClassicalPreemptor, evict, until stable) and the two
must agree. Known differences are listed in docs/conformance.md ("Against the real Kueue").

Kueue runs without webhooks being registered (objects are sent already defaulted: suspended
Jobs), without its internal certificate management and without leader election. It then
reads its metrics certificate from the fixed path /etc/kueue/metrics/certs, so it starts in
a private mount namespace (`unshare --user --map-root-user --mount`) where a temporary
directory is bound over /etc; its webhook server uses the control plane's 127.0.0.1 serving
certificate. Its metrics and health endpoints bind 127.0.0.1 ephemeral ports.
"""

from __future__ import annotations

import http.client
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane import (
    ApiServer,
    ManagedProcess,
    _start_ready,
    binary,
    free_port,
)
from crdkit import KUEUE_CRD_FILES, install_crds

from dralloc.queueing import (
    ClassicalPreemptor,
    QueueManager,
    QueueState,
    check,
    evict,
    read_queue_files,
    schedule,
)

pytestmark = pytest.mark.k8s("kueue")

KUEUE = "/apis/kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
GATE_RESOURCE = "example.com/gate"
# Kueue's manager watches every kind it defines, MultiKueue's and ProvisioningRequest's included.
ALL_KUEUE_CRDS = (
    *KUEUE_CRD_FILES,
    "kueue.x-k8s.io_multikueueclusters.yaml",
    "kueue.x-k8s.io_multikueueconfigs.yaml",
    "kueue.x-k8s.io_provisioningrequestconfigs.yaml",
)
READY_SECONDS = 90.0
QUIET_SECONDS = 2.0
SETTLE_SECONDS = 30.0


# --------------------------------------------------------------------------- the manager


@dataclass
class KueueManager:
    """Kueue's manager on an ApiServer; ready when its readiness endpoint answers 200."""

    process: ManagedProcess
    health_port: int
    startup_seconds: float = 0.0

    @classmethod
    def start(cls, apiserver: ApiServer, directory: Path) -> KueueManager:
        etc = directory / "etc"
        certs = etc / "kueue" / "metrics" / "certs"
        webhook_certs = directory / "webhook-certs"
        for where in (certs, webhook_certs):
            where.mkdir(parents=True, exist_ok=True)
            shutil.copy(apiserver.pki.path("apiserver.crt"), where / "tls.crt")
            shutil.copy(apiserver.pki.path("apiserver.key"), where / "tls.key")
        health_port, metrics_port, webhook_port = free_port(), free_port(), free_port()
        config = {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": "kueue-system",
            "manageJobsWithoutQueueName": False,
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
            "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
            "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(webhook_certs)},
            "integrations": {"frameworks": ["batch/job"]},
            # Its aggregated API would bind every address; nothing here reads it.
            "featureGates": {"VisibilityOnDemand": False},
            "clientConnection": {"qps": 200, "burst": 400},
        }
        config_path = directory / "kueue.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        script = 'mount --bind "$0" /etc && exec "$@"'
        argv = [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            str(etc),
            str(binary("kueue")),
            f"--config={config_path}",
            f"--kubeconfig={apiserver.admin_kubeconfig}",
            "--zap-log-level=2",
        ]
        return _start_ready(
            "kueue",
            argv,
            directory / "kueue.log",
            lambda process: cls(process, health_port),
            timeout=READY_SECONDS,
        )

    def is_ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.health_port, timeout=2)
        try:
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        return response.status == 200

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture(scope="module")
def kueue(apiserver: ApiServer) -> Iterator[KueueManager]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to give Kueue its metrics certificate")
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        # A container runtime's seccomp profile may forbid user namespaces: an environment
        # limit, not a dralloc failure, so it skips even where the binaries are required.
        pytest.skip(
            "this machine forbids user and mount namespaces (unshare: "
            f"{probe.stderr.strip()}), which give Kueue its fixed metrics-certificate path"
        )
    install_crds(apiserver, ALL_KUEUE_CRDS, ("kueue.x-k8s.io/v1beta2",))
    # Kueue's manager reads discovery once when it starts: every kind must be served by then.
    plurals = {f.removeprefix("kueue.x-k8s.io_").removesuffix(".yaml") for f in ALL_KUEUE_CRDS}
    _wait("Kueue's CRDs were not all served", lambda: plurals <= _served(apiserver), 60.0)
    apiserver.admin.create(
        "/api/v1/namespaces", {"metadata": {"name": "kueue-system"}}
    ).raise_for_status()
    directory = Path(tempfile.mkdtemp(prefix="dralloc-kueue-"))
    manager = KueueManager.start(apiserver, directory)
    try:
        yield manager
    finally:
        manager.stop()
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Job:
    """A suspended Job: `pods` pods of `cpu` CPUs each, in ClusterQueue `queue`'s LocalQueue."""

    name: str
    queue: str
    cpu: int
    pods: int = 1
    priority: str | None = None  # a WorkloadPriorityClass of the scenario
    wave: int = 0  # 1: created after Kueue settled on wave 0's (to preempt what it admitted)


@dataclass(frozen=True)
class Scenario:
    """ClusterQueues (raw v1beta2 specs without the gate, flavor and cohort names unprefixed),
    WorkloadPriorityClasses, and Jobs in creation order."""

    name: str
    flavors: tuple[str, ...]
    cluster_queues: dict[str, dict[str, Any]]
    jobs: tuple[Job, ...]
    priorities: dict[str, int] = field(default_factory=dict)
    cohorts: dict[str, dict[str, Any]] = field(default_factory=dict)  # Cohort specs


def cq(
    *quotas: tuple[str, int] | tuple[str, int, int | None, int | None],
    cohort: str | None = None,
    strategy: str = "BestEffortFIFO",
    within: str = "Never",
    reclaim: str = "Never",
    borrow_within: str = "Never",
    when_can_borrow: str = "MayStopSearch",
    when_can_preempt: str = "TryNextFlavor",
) -> dict[str, Any]:
    """A ClusterQueue spec over `cpu`: one (flavor, nominal[, borrowingLimit, lendingLimit])
    per flavor, in order."""
    flavors = []
    for quota in quotas:
        resource: dict[str, Any] = {"name": "cpu", "nominalQuota": str(quota[1])}
        if len(quota) == 4:
            if quota[2] is not None:
                resource["borrowingLimit"] = str(quota[2])
            if quota[3] is not None:
                resource["lendingLimit"] = str(quota[3])
        flavors.append({"name": quota[0], "resources": [resource]})
    spec: dict[str, Any] = {
        "namespaceSelector": {},
        "queueingStrategy": strategy,
        "preemption": {
            "withinClusterQueue": within,
            "reclaimWithinCohort": reclaim,
            "borrowWithinCohort": {"policy": borrow_within},
        },
        "flavorFungibility": {"whenCanBorrow": when_can_borrow, "whenCanPreempt": when_can_preempt},
        "resourceGroups": [{"coveredResources": ["cpu"], "flavors": flavors}],
    }
    if cohort is not None:
        spec["cohortName"] = cohort
    return spec


HAND_WRITTEN = (
    # Nominal quota: 4 CPUs admit the first two Jobs of 2, the third waits.
    Scenario(
        "quota",
        ("default",),
        {"a": cq(("default", 4))},
        (Job("j1", "a", 2), Job("j2", "a", 1, pods=2), Job("j3", "a", 2)),
    ),
    # Borrowing: a borrows b's idle quota up to its borrowing limit.
    Scenario(
        "borrow",
        ("default",),
        {
            "a": cq(("default", 2, 3, None), cohort="c"),
            "b": cq(("default", 4), cohort="c"),
        },
        (Job("j1", "a", 2), Job("j2", "a", 3), Job("j3", "a", 1), Job("j4", "b", 2)),
    ),
    # Lending limit: b lends only 1 of its 4 CPUs, so a's second Job cannot borrow 2.
    Scenario(
        "lending",
        ("default",),
        {
            "a": cq(("default", 2), cohort="c"),
            "b": cq(("default", 4, None, 1), cohort="c"),
        },
        (Job("j1", "a", 2), Job("j2", "a", 2), Job("j3", "a", 1), Job("j4", "b", 3)),
    ),
    # Flavor fungibility: spot first, on-demand when spot is full; TryNextFlavor on borrow.
    Scenario(
        "fungibility",
        ("spot", "ondemand"),
        {
            "a": cq(("spot", 2), ("ondemand", 4), cohort="c", when_can_borrow="TryNextFlavor"),
            "b": cq(("spot", 2), ("ondemand", 0), cohort="c"),
        },
        (Job("j1", "a", 2), Job("j2", "a", 2), Job("j3", "a", 1), Job("j4", "b", 2)),
    ),
    # Priority preemption within the ClusterQueue: the high Job, arriving once the others
    # run, evicts the lowest-priority one.
    Scenario(
        "priority",
        ("default",),
        {"a": cq(("default", 4), within="LowerPriority")},
        (
            Job("mid", "a", 2, priority="mid"),
            Job("low", "a", 2, priority="low"),
            Job("high", "a", 2, priority="high", wave=1),
        ),
        {"low": 10, "mid": 50, "high": 100},
    ),
    # Reclaim within the cohort: b takes back the quota a borrowed (both of a's Jobs borrow,
    # and neither can stay).
    Scenario(
        "reclaim",
        ("default",),
        {
            "a": cq(("default", 2), cohort="c"),
            "b": cq(("default", 4), cohort="c", reclaim="Any"),
        },
        (Job("a1", "a", 3), Job("a2", "a", 3), Job("b1", "b", 4, wave=1)),
    ),
    # A hierarchy of Cohorts: the root holds quota of its own, which a (under left) and b
    # (directly under the root) borrow; left lends nothing beyond what a has.
    Scenario(
        "hierarchy",
        ("default",),
        {
            "a": cq(("default", 1), cohort="left"),
            "b": cq(("default", 1), cohort="root"),
        },
        (Job("a1", "a", 3), Job("b1", "b", 2), Job("a2", "a", 1), Job("a3", "a", 1)),
        cohorts={
            "root": {
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": "default", "resources": [{"name": "cpu", "nominalQuota": "4"}]}
                        ],
                    }
                ]
            },
            "left": {"parentName": "root"},
        },
    ),
    # StrictFIFO: the head that does not fit blocks the small Job behind it.
    Scenario(
        "strict",
        ("default",),
        {
            "a": cq(("default", 4), strategy="StrictFIFO"),
            "b": cq(("default", 4)),
        },
        (
            Job("a1", "a", 3),
            Job("a2", "a", 2),
            Job("a3", "a", 1),
            Job("b1", "b", 3),
            Job("b2", "b", 2),
            Job("b3", "b", 1),
        ),
    ),
)


def random_scenario(rng: random.Random, index: int) -> Scenario:
    """A small cohort of 1-3 ClusterQueues over 1-2 flavors, 3-6 Jobs of distinct priorities.

    Distinct, because Kueue orders preemption candidates of equal priority by when they were
    admitted (one-second resolution once read back) and then by UID, which is random: two
    Jobs of one priority admitted within a second make Kueue's victim a coin toss."""
    flavors = ("f1", "f2")[: rng.randint(1, 2)]
    queues: dict[str, dict[str, Any]] = {}
    for q in ("a", "b", "c")[: rng.randint(1, 3)]:
        quotas: list[tuple[str, int, int | None, int | None]] = []
        for flavor in flavors:
            nominal = rng.randint(0, 4)
            borrowing = rng.choice([None, None, rng.randint(0, 3)])
            # The CRD refuses a lending limit above the nominal quota.
            lending = rng.choice([None, None, rng.randint(0, nominal)])
            quotas.append((flavor, nominal, borrowing, lending))
        reclaim = rng.choice(["Never", "LowerPriority", "Any"])
        queues[q] = cq(
            *quotas,
            cohort="c",
            strategy=rng.choice(["StrictFIFO", "BestEffortFIFO"]),
            within=rng.choice(["Never", "LowerPriority", "LowerOrNewerEqualPriority"]),
            reclaim=reclaim,
            # The CRD refuses borrowing with preemption when nothing is reclaimed.
            borrow_within="Never" if reclaim == "Never" else rng.choice(["Never", "LowerPriority"]),
            when_can_borrow=rng.choice(["MayStopSearch", "TryNextFlavor"]),
            when_can_preempt=rng.choice(["MayStopSearch", "TryNextFlavor"]),
        )
    jobs = tuple(
        Job(
            f"j{n}",
            rng.choice(sorted(queues)),
            rng.randint(1, 3),
            pods=rng.randint(1, 2),
            priority=f"p{priority}",
            wave=rng.choice([0, 0, 1]),
        )
        for n, priority in enumerate(rng.sample(range(1, 7), rng.randint(3, 6)), start=1)
    )
    return Scenario(f"r{index}", flavors, queues, jobs, {f"p{n}": 10 * n for n in range(1, 7)})


RANDOM_SEED = 14
RANDOM_SCENARIOS = 40


def all_scenarios() -> list[Scenario]:
    rng = random.Random(RANDOM_SEED)
    return [*HAND_WRITTEN, *(random_scenario(rng, n) for n in range(RANDOM_SCENARIOS))]


# --------------------------------------------------------------------------- the objects


def _namespace(scenario: Scenario) -> str:
    return f"rk-{scenario.name}"


def _global(scenario: Scenario, name: str) -> str:
    return f"{scenario.name}-{name}"


def queue_objects(scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) for everything but the Jobs and the gate flavor."""
    ns = _namespace(scenario)
    out: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    ]
    for flavor in scenario.flavors:
        out.append(
            (
                f"{KUEUE}/resourceflavors",
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta2",
                    "kind": "ResourceFlavor",
                    "metadata": {"name": _global(scenario, flavor)},
                    "spec": {},
                },
            )
        )
    for name, value in scenario.priorities.items():
        out.append(
            (
                f"{KUEUE}/workloadpriorityclasses",
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta2",
                    "kind": "WorkloadPriorityClass",
                    "metadata": {"name": _global(scenario, name)},
                    "value": value,
                },
            )
        )
    for name, spec in scenario.cohorts.items():
        spec = yaml.safe_load(yaml.safe_dump(spec))
        if "parentName" in spec:
            spec["parentName"] = _global(scenario, spec["parentName"])
        for group in spec.get("resourceGroups", []):
            for flavor in group["flavors"]:
                flavor["name"] = _global(scenario, flavor["name"])
        out.append(
            (
                f"{KUEUE}/cohorts",
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta2",
                    "kind": "Cohort",
                    "metadata": {"name": _global(scenario, name)},
                    "spec": spec,
                },
            )
        )
    gate = _global(scenario, "gate")
    for name, spec in scenario.cluster_queues.items():
        spec = yaml.safe_load(yaml.safe_dump(spec))  # a deep copy to rename in
        if "cohortName" in spec:
            spec["cohortName"] = _global(scenario, spec["cohortName"])
        for group in spec["resourceGroups"]:
            for flavor in group["flavors"]:
                flavor["name"] = _global(scenario, flavor["name"])
        spec["resourceGroups"].append(
            {
                "coveredResources": [GATE_RESOURCE],
                "flavors": [
                    {"name": gate, "resources": [{"name": GATE_RESOURCE, "nominalQuota": "0"}]}
                ],
            }
        )
        out.append(
            (
                f"{KUEUE}/clusterqueues",
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta2",
                    "kind": "ClusterQueue",
                    "metadata": {"name": _global(scenario, name)},
                    "spec": spec,
                },
            )
        )
        out.append(
            (
                f"{KUEUE}/namespaces/{ns}/localqueues",
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta2",
                    "kind": "LocalQueue",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"clusterQueue": _global(scenario, name)},
                },
            )
        )
    return out


def gate_flavor(scenario: Scenario) -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ResourceFlavor",
        "metadata": {"name": _global(scenario, "gate")},
        "spec": {},
    }


def job_object(scenario: Scenario, job: Job) -> dict[str, Any]:
    """The Job as Kueue's Job webhook would leave it: suspended."""
    labels = {QUEUE_LABEL: job.queue}
    if job.priority is not None:
        labels[PRIORITY_LABEL] = _global(scenario, job.priority)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job.name, "namespace": _namespace(scenario), "labels": labels},
        "spec": {
            "parallelism": job.pods,
            "completions": job.pods,
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": str(job.cpu)}},
                        }
                    ],
                }
            },
        },
    }


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """What admission decided: Workload name -> flavors per pod set (admitted only), and the
    Workloads preempted at least once."""

    admitted: dict[str, tuple[tuple[str, ...], ...]]
    preempted: frozenset[str]


def _flavors(admission: dict[str, Any] | None) -> tuple[tuple[str, ...], ...]:
    if not admission:
        return ()
    return tuple(
        tuple(sorted(set(psa.get("flavors", {}).values())))
        for psa in admission.get("podSetAssignments", [])
    )


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == kind:
            found: dict[str, Any] = condition
            return found
    return None


def kueue_outcome(workloads: list[dict[str, Any]]) -> Outcome:
    admitted = {}
    preempted = set()
    for wl in workloads:
        name = wl["metadata"]["name"]
        reserved = _condition(wl, "QuotaReserved")
        if reserved is not None and reserved["status"] == "True":
            admitted[name] = _flavors(wl["status"].get("admission"))
        evictions = wl.get("status", {}).get("schedulingStats", {}).get("evictions", [])
        if any(e.get("reason") == "Preempted" for e in evictions):
            preempted.add(name)
    return Outcome(admitted, frozenset(preempted))


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {
        k: v
        for k, v in obj["metadata"].items()
        if k in ("name", "namespace", "labels", "annotations", "uid", "creationTimestamp")
        or (k == "ownerReferences")
    }
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    out["metadata"] = metadata
    return out


def dralloc_outcome(
    documents: list[dict[str, Any]], arrivals: list[list[str]], directory: Path
) -> tuple[Outcome, list[str]]:
    """dralloc's admission of the objects read back, the Workloads named in `arrivals` added
    batch by batch, each run until nothing changes; also the Workloads its Job integration
    made that Kueue did not (names that differ)."""
    path = directory / "objects.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    inputs = read_queue_files([str(path)])
    made = inputs.add_job_workloads()
    state = QueueState.build(inputs)
    check(state)
    manager = QueueManager(state)
    by_name = {key.rpartition("/")[2]: wl for key, wl in inputs.workloads.items()}
    now = datetime.now(UTC).replace(microsecond=0)
    preemptor = ClassicalPreemptor()
    preempted: set[str] = set()
    for arrival in arrivals:
        manager.add_all(by_name[name] for name in arrival)
        previous: dict[str, tuple[str, str]] | None = None
        for _ in range(4 * len(inputs.workloads) + 8):
            result = schedule(state, manager, now, preemptor=preemptor)
            for victim, by, reason in result.preemptions:
                evict(state, manager, inputs.workloads[victim], by, reason, now)
                preempted.add(victim.rpartition("/")[2])
            waiting = {k: (str(e.reason), e.message) for k, e in result.pending.items()}
            if not result.order or (
                not result.admitted and not result.preemptions and waiting == previous
            ):
                break
            previous = waiting
            # Each call is one of Kueue's cycles, which admit at distinct times; Kueue orders
            # preemption candidates of one priority newest-admitted first.
            now += timedelta(seconds=1)
    admitted = {}
    for key, wl in inputs.workloads.items():
        admission = wl.status.admission
        if admission is None:
            continue
        admitted[key.rpartition("/")[2]] = tuple(
            tuple(sorted(set(psa.flavors.values()))) for psa in admission.pod_set_assignments
        )
    return Outcome(admitted, frozenset(preempted)), [
        f"{w.metadata.namespace}/{w.metadata.name}" for w in made
    ]


# --------------------------------------------------------------------------- the run


def _items(apiserver: ApiServer, path: str) -> list[dict[str, Any]]:
    response = apiserver.admin.get(path).raise_for_status()
    items: list[dict[str, Any]] = response.body["items"]
    return items


def _wait(what: str, done: Callable[[], bool], timeout: float = SETTLE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)


def _stamp(obj: dict[str, Any]) -> float:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"]).timestamp()


def _served(apiserver: ApiServer) -> set[str]:
    resources = apiserver.admin.get(KUEUE).raise_for_status().body["resources"]
    return {r["name"] for r in resources}


def _workloads_made(
    apiserver: ApiServer, wanted: set[tuple[str, str]], stamps: list[float]
) -> bool:
    """Whether Kueue made the Workload of every Job `(namespace, name)` of `wanted`; if so,
    `stamps` gets their creation times."""
    made = {}
    for wl in _items(apiserver, f"{KUEUE}/workloads"):
        for owner in wl["metadata"].get("ownerReferences", []):
            made[(wl["metadata"]["namespace"], owner["name"])] = wl
    if not wanted <= made.keys():
        return False
    stamps[:] = [_stamp(made[k]) for k in wanted]
    return True


def _create_round(apiserver: ApiServer, batch: list[tuple[Scenario, Job]]) -> None:
    """Create one Job per scenario and wait until Kueue made their Workloads and the API
    server's clock (the same machine's) passed their second: Kueue breaks creation-time ties
    by UID, which is random, so a later round must have a later creation time."""
    for scenario, job in batch:
        path = f"/apis/batch/v1/namespaces/{_namespace(scenario)}/jobs"
        apiserver.admin.create(path, job_object(scenario, job)).raise_for_status()
    wanted = {(_namespace(s), j.name) for s, j in batch}
    stamps: list[float] = []
    _wait("Kueue did not create the Workloads", lambda: _workloads_made(apiserver, wanted, stamps))
    newest = max(stamps)
    _wait("the clock did not pass a second", lambda: time.time() >= newest + 1.05)


def _settle(apiserver: ApiServer) -> None:
    """Wait until every ClusterQueue's status counts all of its Workloads (pending or
    reserving quota: Kueue has seen them all; a StrictFIFO queue's Workloads behind its head
    never get a condition) and no Workload or ClusterQueue changed for QUIET_SECONDS. The
    failure names the queues whose counts are off and the objects still changing."""
    last: dict[str, str] = {}
    changing: set[str] = set()
    quiet_since = time.monotonic()
    deadline = quiet_since + SETTLE_SECONDS
    while True:
        workloads = _items(apiserver, f"{KUEUE}/workloads")
        queues = _items(apiserver, f"{KUEUE}/clusterqueues")
        of_local = {
            (lq["metadata"]["namespace"], lq["metadata"]["name"]): lq["spec"]["clusterQueue"]
            for lq in _items(apiserver, f"{KUEUE}/localqueues")
        }
        counted: dict[str, int] = {}
        for wl in workloads:
            cq = of_local.get((wl["metadata"]["namespace"], wl["spec"]["queueName"]), "")
            counted[cq] = counted.get(cq, 0) + 1
        off = sorted(
            q["metadata"]["name"]
            for q in queues
            if q.get("status", {}).get("pendingWorkloads", 0)
            + q.get("status", {}).get("reservingWorkloads", 0)
            != counted.get(q["metadata"]["name"], 0)
        )
        versions = {
            f"{obj.get('kind', '')}{obj['metadata'].get('namespace', '')}/"
            f"{obj['metadata']['name']}": obj["metadata"]["resourceVersion"]
            for obj in (*workloads, *queues)
        }
        changing = {k for k, v in versions.items() if last.get(k) != v}
        if changing or off:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_SECONDS:
            return
        last = versions
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Kueue did not settle within {SETTLE_SECONDS:.0f} s: ClusterQueues whose "
                f"status does not count all their Workloads: {off}; still changing: "
                f"{sorted(changing)}"
            )
        time.sleep(0.2)


@dataclass
class LiveRun:
    """Every scenario's objects as read back after Kueue settled."""

    objects: dict[str, list[dict[str, Any]]]  # scenario -> documents for dralloc
    workloads: dict[str, list[dict[str, Any]]]  # scenario -> Workloads with status


def run_in_kueue(apiserver: ApiServer, kueue: KueueManager, scenarios: list[Scenario]) -> LiveRun:
    admin = apiserver.admin
    for scenario in scenarios:
        for path, obj in queue_objects(scenario):
            admin.create(path, obj).raise_for_status()
    names = {_global(s, q) for s in scenarios for q in s.cluster_queues}

    def queues_seen() -> bool:
        seen = {
            cq["metadata"]["name"]
            for cq in _items(apiserver, f"{KUEUE}/clusterqueues")
            if _condition(cq, "Active") is not None
        }
        return names <= seen

    _wait("Kueue did not report on every ClusterQueue", queues_seen)
    first = [[j for j in s.jobs if j.wave == 0] for s in scenarios]
    for index in range(max(len(jobs) for jobs in first)):
        _create_round(
            apiserver,
            [(s, j[index]) for s, j in zip(scenarios, first, strict=True) if index < len(j)],
        )
    for scenario in scenarios:
        admin.create(f"{KUEUE}/resourceflavors", gate_flavor(scenario)).raise_for_status()
    _settle(apiserver)
    # Wave 1 arrives one Job per scenario at a time, each after Kueue settled on the previous.
    second = [[j for j in s.jobs if j.wave == 1] for s in scenarios]
    for index in range(max(len(jobs) for jobs in second)):
        _create_round(
            apiserver,
            [(s, j[index]) for s, j in zip(scenarios, second, strict=True) if index < len(j)],
        )
        _settle(apiserver)
    objects: dict[str, list[dict[str, Any]]] = {s.name: [] for s in scenarios}
    workloads: dict[str, list[dict[str, Any]]] = {s.name: [] for s in scenarios}
    by_prefix = {f"{s.name}-": s.name for s in scenarios}
    by_namespace = {_namespace(s): s.name for s in scenarios}
    for kind, kube_kind in (
        ("resourceflavors", "ResourceFlavor"),
        ("workloadpriorityclasses", "WorkloadPriorityClass"),
        ("clusterqueues", "ClusterQueue"),
        ("cohorts", "Cohort"),
    ):
        for obj in _items(apiserver, f"{KUEUE}/{kind}"):
            owner = next(
                (s for p, s in by_prefix.items() if obj["metadata"]["name"].startswith(p)), None
            )
            if owner is not None:
                obj.setdefault("apiVersion", "kueue.x-k8s.io/v1beta2")
                obj.setdefault("kind", kube_kind)
                objects[owner].append(_clean(obj))
    for path, kube_kind, api in (
        (f"{KUEUE}/localqueues", "LocalQueue", "kueue.x-k8s.io/v1beta2"),
        ("/apis/batch/v1/jobs", "Job", "batch/v1"),
        (f"{KUEUE}/workloads", "Workload", "kueue.x-k8s.io/v1beta2"),
    ):
        for obj in _items(apiserver, path):
            owner_scenario = by_namespace.get(obj["metadata"]["namespace"])
            if owner_scenario is None:
                continue
            obj.setdefault("apiVersion", api)
            obj.setdefault("kind", kube_kind)
            if kube_kind == "Workload":
                workloads[owner_scenario].append(obj)
            if kube_kind == "Job":
                # dralloc reads the Jobs as they were submitted: suspended, no status.
                obj = _clean(obj)
                obj["spec"]["suspend"] = True
            objects[owner_scenario].append(_clean(obj))
    return LiveRun(objects, workloads)


def arrivals(scenario: Scenario, workloads: list[dict[str, Any]]) -> list[list[str]]:
    """The Workload names in the order the live run created them: wave 0 at once (behind the
    gate), then each Job of wave 1 alone."""
    of_job = {
        owner["name"]: wl["metadata"]["name"]
        for wl in workloads
        for owner in wl["metadata"].get("ownerReferences", [])
    }
    first = [of_job[j.name] for j in scenario.jobs if j.wave == 0]
    return [first] + [[of_job[j.name]] for j in scenario.jobs if j.wave == 1]


def _describe(outcome: Outcome) -> str:
    admitted = ", ".join(
        f"{name}[{'|'.join(','.join(f) for f in flavors)}]"
        for name, flavors in sorted(outcome.admitted.items())
    )
    return f"admitted: {admitted or '-'}; preempted: {', '.join(sorted(outcome.preempted)) or '-'}"


# Kueue's decisions on the hand-written scenarios, by Job: admitted Jobs and their flavor,
# preempted Jobs.
EXPECTED: dict[str, tuple[dict[str, str], set[str]]] = {
    "quota": ({"j1": "default", "j2": "default"}, set()),
    "borrow": ({"j1": "default", "j3": "default", "j4": "default"}, set()),
    "lending": ({"j1": "default", "j3": "default", "j4": "default"}, set()),
    "fungibility": ({"j1": "spot", "j2": "ondemand", "j3": "ondemand", "j4": "spot"}, set()),
    "priority": ({"high": "default", "mid": "default"}, {"low"}),
    "reclaim": ({"b1": "default"}, {"a1", "a2"}),
    "hierarchy": ({"a1": "default", "b1": "default", "a2": "default"}, set()),
    "strict": ({"a1": "default", "b1": "default", "b3": "default"}, set()),
}


def by_job(workloads: list[dict[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """Kueue's outcome by Job name (one pod set, one flavor, scenario prefix dropped)."""
    outcome = kueue_outcome(workloads)
    job_of = {
        wl["metadata"]["name"]: owner["name"]
        for wl in workloads
        for owner in wl["metadata"].get("ownerReferences", [])
    }
    admitted = {
        job_of[name]: flavors[0][0].partition("-")[2] for name, flavors in outcome.admitted.items()
    }
    return admitted, {job_of[name] for name in outcome.preempted}


# Scenarios where the two disagree for a documented reason (docs/conformance.md, "Against the
# real Kueue"), with that reason; empty when they all agree.
KNOWN_DIFFERENCES: dict[str, str] = {}


def test_dralloc_admits_preempts_and_assigns_flavors_as_the_real_kueue(
    apiserver: ApiServer, kueue: KueueManager, tmp_path: Path
) -> None:
    scenarios = all_scenarios()
    live = run_in_kueue(apiserver, kueue, scenarios)
    differences = []
    for scenario in scenarios:
        theirs = kueue_outcome(live.workloads[scenario.name])
        directory = tmp_path / scenario.name
        directory.mkdir()
        ours, renamed = dralloc_outcome(
            live.objects[scenario.name],
            arrivals(scenario, live.workloads[scenario.name]),
            directory,
        )
        assert not renamed, f"{scenario.name}: dralloc's Job integration named {renamed}"
        if ours != theirs and scenario.name not in KNOWN_DIFFERENCES:
            differences.append(
                f"{scenario.name}:\n  Kueue:   {_describe(theirs)}\n  dralloc: {_describe(ours)}"
            )
    assert "\n".join(differences) == ""
    # The hand-written scenarios must show what they are named for, in Kueue as in dralloc.
    for scenario in HAND_WRITTEN:
        admitted, preempted = EXPECTED[scenario.name]
        assert by_job(live.workloads[scenario.name]) == (admitted, preempted), scenario.name


def test_kueue_manager_is_the_pinned_release() -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not on PATH (it reads the module versions built into the manager)")
    out = subprocess.run(
        [go, "version", "-m", str(binary("kueue"))], capture_output=True, text=True, check=True
    )
    fields = [line.split() for line in out.stdout.splitlines()]
    assert ["path", "sigs.k8s.io/kueue/cmd/kueue"] in fields
    assert any(f[:3] == ["mod", "sigs.k8s.io/kueue", "v0.17.0"] for f in fields)
