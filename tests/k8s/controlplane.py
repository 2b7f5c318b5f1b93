"""A throwaway Kubernetes control plane for tests: etcd and kube-apiserver on 127.0.0.1.

This module owns starting and stopping the upstream binaries tools/build.sh builds, the
certificates and kubeconfigs they need, and a small HTTPS client for the harness's own checks
(the live client layer of dralloc is not this). It starts only processes it then stops, each in
its own process group and signalled by its own pid; it binds nothing but 127.0.0.1.

    etcd = Etcd.start(workdir / "etcd")
    server = ApiServer.start(etcd.client_url, workdir / "apiserver")
    server.admin.get("/apis/resource.k8s.io/v1").raise_for_status()
    server.stop()
    etcd.stop()

The flags, certificate names and kubeconfig shape follow docs of the harness
(spec cluster-mode §8.3): every unusual apiserver flag is explained where it is set.
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import http.client
import ipaddress
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

K8S_VERSION = "v1.36.3"
"""The k8s.io/kubernetes version tools/k8s/go.mod pins (a test checks that they agree)."""

HOME_ENV = "DRALLOC_K8S_HOME"
REQUIRE_ENV = "DRALLOC_REQUIRE_K8S"
DEFAULT_BINARIES = ("etcd", "kube-apiserver", "kubectl")

STOP_GRACE_SECONDS = 20.0
ETCD_READY_SECONDS = 10.0
APISERVER_READY_SECONDS = 60.0
START_ATTEMPTS = 3
CONTEXT_NAME = "dralloc-test"
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


# Certificates


@dataclass(frozen=True)
class Pki:
    """The certificate files of one control plane, by the names kube-apiserver expects."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca(self) -> Path:
        return self.path("ca.crt")

    @property
    def client_ca(self) -> Path:
        return self.path("client-ca.crt")

    def user_cert(self, user: str) -> tuple[Path, Path]:
        return self.path(f"{user}.crt"), self.path(f"{user}.key")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    # A minute of slack before now, for a clock that steps while the files are written.
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(
        now + datetime.timedelta(days=7)
    )


def _make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return _validity(builder).sign(key, hashes.SHA256()), key


def _make_leaf(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: Sequence[x509.GeneralName] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return _validity(builder).sign(ca_key, hashes.SHA256()), key


def write_pki(directory: Path) -> Pki:
    """Writes a serving CA and cert, a client CA, the `admin` (system:masters) and `dralloc` (no
    groups) client certs and the service-account key pair: ECDSA P-256, valid 7 days."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)

    serving_ca = _make_ca("dralloc-test-serving-ca")
    _write_cert(pki.ca, serving_ca[0])
    _write_key(pki.path("ca.key"), serving_ca[1])
    # kube-apiserver finds these two by their exact names in --cert-dir.
    cert, key = _make_leaf(
        serving_ca,
        _name("localhost"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))],
    )
    _write_cert(pki.path("apiserver.crt"), cert)
    _write_key(pki.path("apiserver.key"), key)

    client_ca = _make_ca("dralloc-test-client-ca")
    _write_cert(pki.client_ca, client_ca[0])
    _write_key(pki.path("client-ca.key"), client_ca[1])
    for user, group in (("admin", "system:masters"), ("dralloc", None)):
        cert, key = _make_leaf(client_ca, _name(user, group), ExtendedKeyUsageOID.CLIENT_AUTH)
        _write_cert(pki.path(f"{user}.crt"), cert)
        _write_key(pki.path(f"{user}.key"), key)

    sa_key = _key()
    _write_key(pki.path("sa.key"), sa_key)
    pki.path("sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki


def write_kubeconfig(path: Path, server: str, pki: Pki, user: str) -> Path:
    """One cluster, user and context, all named `dralloc-test`, with the credentials inline, so
    kubectl and any client library read the same file."""

    def data(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode("ascii")

    cert, key = pki.user_cert(user)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT_NAME,
                "cluster": {"server": server, "certificate-authority-data": data(pki.ca)},
            }
        ],
        "users": [
            {
                "name": CONTEXT_NAME,
                "user": {"client-certificate-data": data(cert), "client-key-data": data(key)},
            }
        ],
        "contexts": [
            {"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME}}
        ],
        "current-context": CONTEXT_NAME,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


# HTTP


class ApiError(RuntimeError):
    def __init__(self, response: ApiResponse) -> None:
        self.response = response
        super().__init__(f"{response.method} {response.path}: {response.status} {response.text}")


@dataclass(frozen=True)
class ApiResponse:
    method: str
    path: str
    status: int
    text: str

    @property
    def body(self) -> Any:
        return json.loads(self.text)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def raise_for_status(self) -> ApiResponse:
        if not self.is_success:
            raise ApiError(self)
        return self


class ApiClient:
    """Plain HTTPS to one API server as one user, the CA pinned: enough for the harness.

    A connection per request keeps it simple and safe to share between threads; on loopback the
    handshake costs a few milliseconds.
    """

    def __init__(
        self,
        port: int,
        ca_file: Path,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.port = port
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=str(ca_file))
        if cert_file is not None:
            self._context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> ApiResponse:
        target = f"{path}?{urlencode(query)}" if query else path
        headers = {"Accept": "application/json"}
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.port,
            context=self._context,
            timeout=self.timeout if timeout is None else timeout,
        )
        try:
            connection.request(method, target, body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        return ApiResponse(method, target, response.status, text)

    def get(self, path: str, **query: str) -> ApiResponse:
        return self.request("GET", path, query=query or None)

    def create(self, path: str, obj: Any, **query: str) -> ApiResponse:
        return self.request("POST", path, obj, query=query or None)

    def delete(self, path: str) -> ApiResponse:
        return self.request("DELETE", path)

    def patch_status(self, path: str, patch: Any) -> ApiResponse:
        """A merge patch of the `status` subresource (what a kubelet would write)."""
        return self.request(
            "PATCH", f"{path}/status", patch, content_type="application/merge-patch+json"
        )

    def watch(self, path: str, timeout_seconds: int = 30, **query: str) -> Iterator[Any]:
        """The events of a watch on a collection, each `{"type": ..., "object": ...}`, until
        the server ends it after `timeout_seconds` (or the caller stops iterating)."""
        params = {**query, "watch": "1", "timeoutSeconds": str(timeout_seconds)}
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self._context, timeout=timeout_seconds + 10
        )
        try:
            connection.request(
                "GET", f"{path}?{urlencode(params)}", headers={"Accept": "application/json"}
            )
            response = connection.getresponse()
            if response.status != 200:
                raise ApiError(ApiResponse("GET", path, response.status, response.read().decode()))
            for line in response:
                if line.strip():
                    yield json.loads(line)
        finally:
            connection.close()


# Processes


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
            process = ManagedProcess.spawn("etcd", argv, directory / "etcd.log")
            etcd = cls(process, client, directory, 0.0)
            try:
                _wait_until(process, ETCD_READY_SECONDS, etcd.is_healthy, "healthy")
            except BaseException:
                process.stop()
                raise
            etcd.startup_seconds = time.monotonic() - process.started_at
            return etcd

        result: Etcd = _start_with_retries("etcd", attempt)
        return result

    def is_healthy(self) -> bool:
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
            if feature_gates:
                gates = ",".join(f"{k}={str(v).lower()}" for k, v in sorted(feature_gates.items()))
                argv.append(f"--feature-gates={gates}")
            if runtime_config:
                config = ",".join(
                    f"{k}={str(v).lower()}" for k, v in sorted(runtime_config.items())
                )
                argv.append(f"--runtime-config={config}")
            process = ManagedProcess.spawn("kube-apiserver", argv, directory / "kube-apiserver.log")
            server = cls(
                process,
                port,
                directory,
                pki,
                prefix,
                write_kubeconfig(
                    directory / "admin.kubeconfig", f"https://127.0.0.1:{port}", pki, "admin"
                ),
                write_kubeconfig(
                    directory / "dralloc.kubeconfig", f"https://127.0.0.1:{port}", pki, "dralloc"
                ),
            )
            try:
                _wait_until(process, APISERVER_READY_SECONDS, server.is_ready, "ready")
            except BaseException:
                process.stop()
                raise
            server.startup_seconds = time.monotonic() - process.started_at
            return server

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
            if feature_gates:
                gates = ",".join(f"{k}={str(v).lower()}" for k, v in sorted(feature_gates.items()))
                argv.append(f"--feature-gates={gates}")
            process = ManagedProcess.spawn("kube-scheduler", argv, directory / "kube-scheduler.log")
            scheduler = cls(process, port, 0.0)
            try:
                _wait_until(process, APISERVER_READY_SECONDS, scheduler.is_ready, "ready")
            except BaseException:
                process.stop()
                raise
            scheduler.startup_seconds = time.monotonic() - process.started_at
            return scheduler

        result: KubeScheduler = _start_with_retries("kube-scheduler", attempt)
        return result

    def is_ready(self) -> bool:
        # /readyz is always allowed without credentials; the certificate is its own,
        # self-signed, so it is not checked (loopback only).
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=2)
        try:
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        return response.status == 200

    def stop(self) -> None:
        self.process.stop()
