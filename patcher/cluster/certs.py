"""A control plane's certificates, made afresh for every run.

One CA signs the API server's serving certificate (for 127.0.0.1 and localhost) and a client
certificate in group ``system:masters`` (the superuser group, which every authorizer lets in);
a separate key signs service-account tokens. Keys are ECDSA P-256: generated in a millisecond,
and accepted by etcd's and Kubernetes' TLS and by the service-account token signer.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=1)
CLOCK_SKEW = datetime.timedelta(hours=1)
ADMIN_USER = "argo-patcher-admin"
ADMIN_GROUPS = ("system:masters",)
SERVING_HOSTS = ("127.0.0.1", "localhost")


@dataclasses.dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


@dataclasses.dataclass(frozen=True)
class CertFiles:
    """Where ``Certificates.write`` put each file."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    client_cert: Path
    client_key: Path
    service_account_key: Path
    service_account_public_key: Path


@dataclasses.dataclass(frozen=True)
class Certificates:
    ca: KeyPair
    serving: KeyPair
    client: KeyPair
    service_account_key_pem: bytes
    service_account_public_pem: bytes

    def write(self, directory: Path) -> CertFiles:
        """Write every file into ``directory`` (private keys readable by this user only)."""
        directory.mkdir(parents=True, exist_ok=True)
        files = CertFiles(
            ca_cert=directory / "ca.crt",
            serving_cert=directory / "apiserver.crt",
            serving_key=directory / "apiserver.key",
            client_cert=directory / "admin.crt",
            client_key=directory / "admin.key",
            service_account_key=directory / "sa.key",
            service_account_public_key=directory / "sa.pub",
        )
        contents = {
            files.ca_cert: self.ca.cert_pem,
            files.serving_cert: self.serving.cert_pem,
            files.serving_key: self.serving.key_pem,
            files.client_cert: self.client.cert_pem,
            files.client_key: self.client.key_pem,
            files.service_account_key: self.service_account_key_pem,
            files.service_account_public_key: self.service_account_public_pem,
        }
        for path, data in contents.items():
            path.touch(mode=0o600)
            path.write_bytes(data)
        return files


def generate(*, hosts: Sequence[str] = SERVING_HOSTS, user: str = ADMIN_USER, groups: Sequence[str] = ADMIN_GROUPS) -> Certificates:
    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "argo-patcher control plane CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    serving = _leaf(
        ca_cert, ca_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        ExtendedKeyUsageOID.SERVER_AUTH, subject_alt_names=[_general_name(host) for host in hosts],
    )  # fmt: skip
    client_name = x509.Name(
        [*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups), x509.NameAttribute(NameOID.COMMON_NAME, user)]
    )
    client = _leaf(ca_cert, ca_key, client_name, ExtendedKeyUsageOID.CLIENT_AUTH)
    service_account = _new_key()
    return Certificates(
        ca=KeyPair(ca_cert.public_bytes(serialization.Encoding.PEM), _private_pem(ca_key)),
        serving=serving,
        client=client,
        service_account_key_pem=_private_pem(service_account),
        service_account_public_pem=service_account.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _leaf(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, subject: x509.Name, usage: x509.ObjectIdentifier,
    *, subject_alt_names: Sequence[x509.GeneralName] = (),
) -> KeyPair:  # fmt: skip
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if subject_alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(subject_alt_names)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _private_pem(key))


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=not cert_sign, data_encipherment=False,
        key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
