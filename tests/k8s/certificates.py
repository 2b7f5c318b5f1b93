"""Certificates and kubeconfigs for a test control plane: a serving CA and certificate for
127.0.0.1, a client CA with the `admin` (system:masters) and `dralloc` (no groups) users, and the
service-account key pair, all ECDSA P-256 valid for 7 days, under the file names kube-apiserver
expects. Writes files only; starts nothing.

    pki = write_pki(directory)
    write_kubeconfig(directory / "admin.kubeconfig", "https://127.0.0.1:6443", pki, "admin")
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONTEXT_NAME = "dralloc-test"


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
