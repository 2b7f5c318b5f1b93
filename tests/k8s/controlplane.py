"""A throwaway Kubernetes control plane for tests: etcd and kube-apiserver on 127.0.0.1.

This module owns starting and stopping the upstream binaries tools/build.sh builds (etcd,
kube-apiserver, optionally kube-scheduler) and running kubectl; certificates.py writes their
credentials and apiclient.py talks to them. It starts only processes it then stops, each in its
own process group and signalled by its own pid; it binds nothing but 127.0.0.1.

    etcd = Etcd.start(workdir / "etcd")
    server = ApiServer.start(etcd.client_url, workdir / "apiserver")
    server.admin.get("/apis/resource.k8s.io/v1").raise_for_status()
    server.stop()
    etcd.stop()

Every unusual apiserver flag is explained where it is set.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from apiclient import ApiClient
from certificates import Pki, write_kubeconfig, write_pki

K8S_VERSION = "v1.36.3"
"""The k8s.io/kubernetes version tools/k8s/go.mod pins (a test checks that they agree)."""

HOME_ENV = "DRALLOC_K8S_HOME"
REQUIRE_ENV = "DRALLOC_REQUIRE_K8S"
DEFAULT_BINARIES = ("etcd", "kube-apiserver", "kubectl")

STOP_GRACE_SECONDS = 20.0
ETCD_READY_SECONDS = 10.0
APISERVER_READY_SECONDS = 60.0
START_ATTEMPTS = 3
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ControlPlaneError(RuntimeError):
    """A process of the control plane did not start, or did not become ready in time."""


def k8s_home() -> Path:
    """Where tools/build.sh put the binaries and its stamp."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "dralloc" / f"k8s-{K8S_VERSION}"


def binary(name: str) -> Path:
    return k8s_home() / "bin" / name


def missing_binaries(names: Sequence[str] = DEFAULT_BINARIES) -> list[str]:
    return [name for name in names if not os.access(binary(name), os.X_OK)]


def is_k8s_required() -> bool:
    """Whether a missing binary fails a `k8s` test instead of skipping it (CI sets this)."""
    return os.environ.get(REQUIRE_ENV) == "1"


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (another process may still take it: the
    start-up retries when the binary reports the address in use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ManagedProcess:
    """One started binary: its own process group, its output in a log file, stopped by pid."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def spawn(cls, name: str, argv: list[str], log_path: Path) -> ManagedProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a ^C to pytest stays ours
                preexec_fn=_terminate_with_parent,
            )
        return cls(name, argv, log_path, popen)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def has_exited(self) -> bool:
        return self.popen.poll() is not None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def reports_address_in_use(self) -> bool:
        return "address already in use" in self.log_tail(400).lower()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM, then SIGKILL if it is still running after `grace` seconds; idempotent."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()


def _terminate_with_parent() -> None:
    """Runs in the child before exec: on Linux, ask the kernel for SIGKILL when the test
    process dies, so a killed pytest (SIGKILL, an OOM) leaves no etcd or apiserver behind.
    SIGKILL, not SIGTERM: with etcd gone too, kube-apiserver's graceful shutdown can hang."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_until(process: ManagedProcess, timeout: float, is_ready: Any, what: str) -> None:
    """Polls `is_ready()` until it is true; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        if process.has_exited():
            raise _ExitedEarly(process)
        try:
            if is_ready():
                return
        except (OSError, http.client.HTTPException, ValueError) as error:
            last_error = f" (last error: {error})"
        if time.monotonic() > deadline:
            raise ControlPlaneError(
                f"{process.name} was not {what} within {timeout:.0f} s{last_error}; "
                f"its log ({process.log_path}) ends:\n{process.log_tail()}"
            )
        time.sleep(0.05)


class _ExitedEarly(ControlPlaneError):
    def __init__(self, process: ManagedProcess) -> None:
        self.process = process
        super().__init__(
            f"{process.name} exited with code {process.popen.returncode} while starting; "
            f"its log ({process.log_path}) ends:\n{process.log_tail()}"
        )


class _Startable(Protocol):
    """A started process's handle: ready or not, and how long it took to become so."""

    startup_seconds: float

    def is_ready(self) -> bool: ...


_T = TypeVar("_T", bound=_Startable)


def _start_ready(
    name: str,
    argv: list[str],
    log_path: Path,
    build: Callable[[ManagedProcess], _T],
    *,
    timeout: float,
    what: str = "ready",
) -> _T:
    """Spawns `argv`, wraps the process with `build`, and polls the result's `is_ready()` until
    it is true (failing at once if the process exits). Whatever goes wrong, the process is
    stopped before the error goes on, so a failed start leaves nothing running. The result's
    `startup_seconds` is the time from spawn to ready."""
    process = ManagedProcess.spawn(name, argv, log_path)
    try:
        started = build(process)
        _wait_until(process, timeout, started.is_ready, what)
    except BaseException:
        process.stop()
        raise
    started.startup_seconds = time.monotonic() - process.started_at
    return started


def _gates_flag(feature_gates: Mapping[str, bool] | None) -> list[str]:
    """`--feature-gates=A=true,B=false` in name order, or nothing."""
    if not feature_gates:
        return []
    return ["--feature-gates=" + _pairs(feature_gates)]


def _pairs(values: Mapping[str, bool]) -> str:
    return ",".join(f"{k}={str(v).lower()}" for k, v in sorted(values.items()))


def _start_with_retries(name: str, attempt: Any) -> Any:
    """Runs `attempt()` up to START_ATTEMPTS times while the process lost its port to another."""
    for number in range(1, START_ATTEMPTS + 1):
        try:
            return attempt()
        except _ExitedEarly as error:
            if number == START_ATTEMPTS or not error.process.reports_address_in_use():
                raise
    raise AssertionError(f"unreachable: {name}")


@dataclass
class Etcd:
    """A single-member etcd 3.6 listening on loopback only, data in `directory`."""

    process: ManagedProcess
    client_port: int
    directory: Path
    startup_seconds: float

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @classmethod
    def start(cls, directory: Path) -> Etcd:
        directory.mkdir(parents=True, exist_ok=True)

        def attempt() -> Etcd:
            client, peer = free_port(), free_port()
            data_dir = directory / "data"
            shutil.rmtree(data_dir, ignore_errors=True)
            argv = [
                str(binary("etcd")),
                "--name=t",
                f"--data-dir={data_dir}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=t=http://127.0.0.1:{peer}",
                # Test data is thrown away: durability only costs time.
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ]
            return _start_ready(
                "etcd",
                argv,
                directory / "etcd.log",
                lambda process: cls(process, client, directory, 0.0),
                timeout=ETCD_READY_SECONDS,
                what="healthy",
            )

        result: Etcd = _start_with_retries("etcd", attempt)
        return result

    def is_ready(self) -> bool:
        """Whether `/health` says `"health": "true"`."""
        connection = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=2)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        return response.status == 200 and json.loads(body).get("health") == "true"

    def stop(self) -> None:
        self.process.stop()


@dataclass
class ApiServer:
    """kube-apiserver on 127.0.0.1 over a fresh prefix of a shared etcd: a clean cluster.

    `admin` and `dralloc` are clients as those users; `admin_kubeconfig` and
    `dralloc_kubeconfig` are the same credentials for kubectl or a client library.
    """

    process: ManagedProcess
    port: int
    directory: Path
    pki: Pki
    etcd_prefix: str
    admin_kubeconfig: Path
    dralloc_kubeconfig: Path
    startup_seconds: float = 0.0

    def __repr__(self) -> str:
        return f"ApiServer({self.url}, log {self.process.log_path})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints a falsifying example's arguments with this, not with __repr__.
        printer.text(repr(self))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def admin(self) -> ApiClient:
        return self.client("admin")

    @property
    def dralloc(self) -> ApiClient:
        return self.client("dralloc")

    def client(self, user: str) -> ApiClient:
        cert, key = self.pki.user_cert(user)
        return ApiClient(self.port, self.pki.ca, cert, key)

    @classmethod
    def start(
        cls,
        etcd_url: str,
        directory: Path,
        *,
        feature_gates: Mapping[str, bool] | None = None,
        runtime_config: Mapping[str, bool] | None = None,
    ) -> ApiServer:
        """Starts it and waits until it is ready (readyz, the default namespace and
        resource.k8s.io/v1 all answer 200), retrying on a port taken in between."""
        pki = write_pki(directory)
        prefix = f"/{uuid.uuid4()}/registry"

        def attempt() -> ApiServer:
            port = free_port()
            argv = [
                str(binary("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                f"--etcd-prefix={prefix}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--advertise-address=127.0.0.1",
                # A loopback advertise address is invalid in the `kubernetes` Endpoints.
                "--endpoint-reconciler-type=none",
                f"--cert-dir={directory}",
                f"--client-ca-file={pki.client_ca}",
                f"--service-account-issuer=https://127.0.0.1:{port}",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                # No controller creates the `default` ServiceAccount, and without the node
                # lifecycle controller a not-ready taint would never leave a new Node.
                "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
            ]
            argv += _gates_flag(feature_gates)
            if runtime_config:
                argv.append(f"--runtime-config={_pairs(runtime_config)}")
            url = f"https://127.0.0.1:{port}"
            return _start_ready(
                "kube-apiserver",
                argv,
                directory / "kube-apiserver.log",
                lambda process: cls(
                    process,
                    port,
                    directory,
                    pki,
                    prefix,
                    write_kubeconfig(directory / "admin.kubeconfig", url, pki, "admin"),
                    write_kubeconfig(directory / "dralloc.kubeconfig", url, pki, "dralloc"),
                ),
                timeout=APISERVER_READY_SECONDS,
            )

        result: ApiServer = _start_with_retries("kube-apiserver", attempt)
        return result

    def is_ready(self) -> bool:
        admin = ApiClient(self.port, self.pki.ca, *self.pki.user_cert("admin"), timeout=5)
        return all(
            admin.get(path).status == 200
            for path in ("/readyz", "/api/v1/namespaces/default", "/apis/resource.k8s.io/v1")
        )

    def stop(self) -> None:
        self.process.stop()


@dataclass(frozen=True)
class Kubectl:
    """The built kubectl against one kubeconfig, with its own discovery cache directory.

    kubectl("get", "nodes", "-o", "name").stdout
    """

    kubeconfig: Path
    cache_dir: Path

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(binary("kubectl")),
                f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={self.cache_dir}",
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result


@dataclass
class KubeScheduler:
    """The upstream kube-scheduler against an ApiServer, as admin, without leader election.

    Its kubeconfig goes in the configuration file: `--kubeconfig` is ignored with `--config`.
    """

    process: ManagedProcess
    port: int
    startup_seconds: float

    def __repr__(self) -> str:
        return f"KubeScheduler(127.0.0.1:{self.port}, log {self.process.log_path})"

    @classmethod
    def start(
        cls,
        apiserver: ApiServer,
        directory: Path,
        *,
        feature_gates: Mapping[str, bool] | None = None,
        profiles: Sequence[Mapping[str, Any]] | None = None,
    ) -> KubeScheduler:
        directory.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(apiserver.admin_kubeconfig)},
            "leaderElection": {"leaderElect": False},
        }
        if profiles is not None:
            config["profiles"] = [dict(profile) for profile in profiles]
        config_path = directory / "kube-scheduler.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))

        def attempt() -> KubeScheduler:
            port = free_port()
            argv = [
                str(binary("kube-scheduler")),
                f"--config={config_path}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                # Its self-signed serving certificate, instead of /var/run/kubernetes.
                f"--cert-dir={directory}",
            ]
            argv += _gates_flag(feature_gates)
            return _start_ready(
                "kube-scheduler",
                argv,
                directory / "kube-scheduler.log",
                lambda process: cls(process, port, 0.0),
                timeout=APISERVER_READY_SECONDS,
            )

        result: KubeScheduler = _start_with_retries("kube-scheduler", attempt)
        return result

    def is_ready(self) -> bool:
        return _answers_health(self.port)

    def stop(self) -> None:
        self.process.stop()


def _answers_health(port: int, path: str = "/readyz") -> bool:
    """Whether a component's own HTTPS endpoint answers `path` with 200 (kube-scheduler has
    `/readyz`, kube-controller-manager only `/healthz`; both allow it without credentials).
    The certificate is the component's own, self-signed, so it is not checked (loopback
    only)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status == 200


RESOURCE_CLAIM_CONTROLLER = "resourceclaim-controller"


@dataclass
class KubeControllerManager:
    """The upstream kube-controller-manager against an ApiServer, as admin, without leader
    election, running only `controllers` (default: the ResourceClaim controller, which makes
    pods' claims from their templates). Controllers that would need service-account tokens
    use the admin credentials instead (`--use-service-account-credentials=false`)."""

    process: ManagedProcess
    port: int
    startup_seconds: float

    def __repr__(self) -> str:
        return f"KubeControllerManager(127.0.0.1:{self.port}, log {self.process.log_path})"

    @classmethod
    def start(
        cls,
        apiserver: ApiServer,
        directory: Path,
        *,
        controllers: Sequence[str] = (RESOURCE_CLAIM_CONTROLLER,),
        feature_gates: Mapping[str, bool] | None = None,
    ) -> KubeControllerManager:
        directory.mkdir(parents=True, exist_ok=True)

        def attempt() -> KubeControllerManager:
            port = free_port()
            argv = [
                str(binary("kube-controller-manager")),
                f"--kubeconfig={apiserver.admin_kubeconfig}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--controllers={','.join(controllers)}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={directory}",
            ]
            argv += _gates_flag(feature_gates)
            return _start_ready(
                "kube-controller-manager",
                argv,
                directory / "kube-controller-manager.log",
                lambda process: cls(process, port, 0.0),
                timeout=APISERVER_READY_SECONDS,
            )

        result: KubeControllerManager = _start_with_retries("kube-controller-manager", attempt)
        return result

    def is_ready(self) -> bool:
        return _answers_health(self.port, "/healthz")

    def stop(self) -> None:
        self.process.stop()
