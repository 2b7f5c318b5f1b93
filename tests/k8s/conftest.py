"""Fixtures for tests against a real etcd + kube-apiserver, built by tools/build.sh.

A test needing the upstream binaries carries the `k8s` marker (a module sets
`pytestmark = pytest.mark.k8s`); the marker's arguments name the binaries it needs beyond
etcd, kube-apiserver and kubectl, e.g. `pytest.mark.k8s("kube-scheduler")`. Without them the
test is skipped with "run tools/build.sh", or fails when DRALLOC_REQUIRE_K8S=1 (as in CI).

    pytestmark = pytest.mark.k8s

    def test_a_claim_reads_back(apiserver: ApiServer, namespace: str) -> None:
        path = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        apiserver.admin.create(path, claim).raise_for_status()

Fixtures:
  etcd         (session)  one etcd for the session (for each xdist worker)
  apiserver    (module)   a kube-apiserver of its own over a fresh etcd prefix: a clean cluster;
                          `.admin` / `.dralloc` are HTTPS clients as those users,
                          `.admin_kubeconfig` / `.dralloc_kubeconfig` the same credentials
  apiserver_options (module) override in a module to set feature gates or runtime-config
  kube_scheduler (module) the upstream kube-scheduler on that apiserver (no leader election)
  kube_controller_manager (module) the upstream kube-controller-manager on that apiserver,
                          running only the ResourceClaim controller
  kubectl      (function) the built kubectl as admin, with a fresh --cache-dir
  namespace    (function) a new namespace (never deleted: no namespace controller runs)

Start-up times are printed in the terminal summary (when this directory's conftest is loaded
by the controlling process, as with `pytest tests/k8s`) and kept in pytest's cache under
`dralloc/k8s-startup`. When a test fails, the logs of the processes then running are attached
to its report.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from controlplane import (
    DEFAULT_BINARIES,
    ApiServer,
    Etcd,
    KubeControllerManager,
    Kubectl,
    KubeScheduler,
    ManagedProcess,
    is_k8s_required,
    k8s_home,
    missing_binaries,
)

_STARTUP_PROPERTY = "k8s-startup-seconds"


@dataclass(eq=False)  # registered as a plugin: hashed by identity
class _Harness:
    """What this conftest's hooks share within one pytest process."""

    live: list[ManagedProcess] = field(default_factory=list)
    unreported: list[tuple[str, float]] = field(default_factory=list)
    startups: list[tuple[str, float]] = field(default_factory=list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Under xdist this runs in the controlling process, with the workers' reports.
        for name, value in report.user_properties:
            if name == _STARTUP_PROPERTY:
                process, seconds = value
                self.startups.append((process, seconds))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.startups:
            return
        terminalreporter.section("k8s control plane start-up")
        by_process: dict[str, list[float]] = {}
        for process, seconds in self.startups:
            by_process.setdefault(process, []).append(seconds)
        for process, times in sorted(by_process.items()):
            terminalreporter.write_line(
                f"{process}: ready in {statistics.median(times):.2f} s median of {len(times)} "
                f"start(s) ({min(times):.2f}-{max(times):.2f} s)"
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(session.config, "cache", None)  # absent with -p no:cacheprovider
        if self.startups and cache is not None:
            cache.set("dralloc/k8s-startup", self.startups)


_HARNESS = pytest.StashKey[_Harness]()


def pytest_configure(config: pytest.Config) -> None:
    harness = _Harness()
    config.stash[_HARNESS] = harness
    config.pluginmanager.register(harness, "dralloc-k8s-harness")


def _harness(config: pytest.Config) -> _Harness:
    return config.stash[_HARNESS]


def pytest_runtest_setup(item: pytest.Item) -> None:
    needed = list(DEFAULT_BINARIES)
    for marker in item.iter_markers("k8s"):
        needed.extend(str(name) for name in marker.args)
    if not any(item.iter_markers("k8s")):
        return
    missing = missing_binaries(needed)
    if not missing:
        return
    where = k8s_home() / "bin"
    if is_k8s_required():
        pytest.fail(
            f"{', '.join(missing)} not in {where} and DRALLOC_REQUIRE_K8S=1: run tools/build.sh",
            pytrace=False,
        )
    pytest.skip(f"run tools/build.sh ({', '.join(missing)} not in {where})")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    harness = _harness(item.config)
    if call.when == "setup":
        report.user_properties.extend(
            (_STARTUP_PROPERTY, startup) for startup in harness.unreported
        )
        harness.unreported.clear()
    if report.failed:
        for process in harness.live:
            report.sections.append(
                (f"{process.name} log ({process.log_path}, last 100 lines)", process.log_tail(100))
            )
    return report


@pytest.fixture(scope="session")
def etcd(request: pytest.FixtureRequest) -> Iterator[Etcd]:
    directory = Path(tempfile.mkdtemp(prefix="dralloc-etcd-"))
    harness = _harness(request.config)
    server = Etcd.start(directory)
    harness.live.append(server.process)
    harness.unreported.append(("etcd", server.startup_seconds))
    try:
        yield server
    finally:
        server.stop()
        harness.live.remove(server.process)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class ApiServerOptions:
    """What a module may ask of its apiserver. The apiserver drops the fields of disabled
    features silently on write, so its gates must match the ones dralloc runs with."""

    feature_gates: dict[str, bool] = field(default_factory=dict)
    runtime_config: dict[str, bool] = field(default_factory=dict)


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    return ApiServerOptions()


@pytest.fixture(scope="module")
def apiserver(
    request: pytest.FixtureRequest, etcd: Etcd, apiserver_options: ApiServerOptions
) -> Iterator[ApiServer]:
    directory = Path(tempfile.mkdtemp(prefix="dralloc-apiserver-"))
    harness = _harness(request.config)
    server = ApiServer.start(
        etcd.client_url,
        directory,
        feature_gates=apiserver_options.feature_gates,
        runtime_config=apiserver_options.runtime_config,
    )
    harness.live.append(server.process)
    harness.unreported.append(("kube-apiserver", server.startup_seconds))
    try:
        yield server
    finally:
        server.stop()
        harness.live.remove(server.process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def kube_scheduler(request: pytest.FixtureRequest, apiserver: ApiServer) -> Iterator[KubeScheduler]:
    """The upstream kube-scheduler on the module's apiserver (mark the module
    `pytest.mark.k8s("kube-scheduler")`)."""
    directory = Path(tempfile.mkdtemp(prefix="dralloc-kube-scheduler-"))
    harness = _harness(request.config)
    scheduler = KubeScheduler.start(apiserver, directory)
    harness.live.append(scheduler.process)
    harness.unreported.append(("kube-scheduler", scheduler.startup_seconds))
    try:
        yield scheduler
    finally:
        scheduler.stop()
        harness.live.remove(scheduler.process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def kube_controller_manager(
    request: pytest.FixtureRequest, apiserver: ApiServer
) -> Iterator[KubeControllerManager]:
    """The upstream kube-controller-manager on the module's apiserver with only the
    ResourceClaim controller (mark the module `pytest.mark.k8s("kube-controller-manager")`)."""
    directory = Path(tempfile.mkdtemp(prefix="dralloc-kube-controller-manager-"))
    harness = _harness(request.config)
    manager = KubeControllerManager.start(apiserver, directory)
    harness.live.append(manager.process)
    harness.unreported.append(("kube-controller-manager", manager.startup_seconds))
    try:
        yield manager
    finally:
        manager.stop()
        harness.live.remove(manager.process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def kubectl(apiserver: ApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(apiserver.admin_kubeconfig, tmp_path / "kubectl-cache")


@pytest.fixture
def namespace(apiserver: ApiServer) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    apiserver.admin.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    ).raise_for_status()
    return name
