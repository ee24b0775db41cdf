"""Certificate authority for the Docker engines.

One CA signs the control plane's client certificate and every dockerd's server certificate; each side then
accepts only certificates from that CA (`--tlsverify`), so a Docker API port open to the network is useless
to anyone without a certificate we issued.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import docker
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "yourclaw docker engines CA"
CLIENT_COMMON_NAME = "yourclaw-control-plane"
CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=825)
# A client certificate this close to expiry is reissued by init_ca, so a long-lived deployment that runs
# `certs init` now and then never finds itself locked out of its own engines.
REISSUE_BEFORE = dt.timedelta(days=30)
# A freshly provisioned host's clock can lag the control plane's by a few minutes.
BACKDATE = dt.timedelta(hours=1)
HOST_TLS_DIR = PurePosixPath("/etc/docker/tls")

# New keys are EC P-256; a CA made elsewhere with RSA still loads and signs.
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")


@dataclass(frozen=True, slots=True)
class CaPaths:
    dir: Path
    ca_cert: Path
    ca_key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True, slots=True)
class HostCertPaths:
    name: str
    dir: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path


def ca_paths(tls_dir: Path) -> CaPaths:
    tls_dir = Path(tls_dir)
    return CaPaths(
        dir=tls_dir,
        ca_cert=tls_dir / "ca.pem",
        ca_key=tls_dir / "ca-key.pem",
        client_cert=tls_dir / "cert.pem",
        client_key=tls_dir / "key.pem",
    )


def host_cert_paths(tls_dir: Path, name: str) -> HostCertPaths:
    _check_host_name(name)
    host_dir = Path(tls_dir) / "hosts" / name
    return HostCertPaths(
        name=name,
        dir=host_dir,
        ca_cert=host_dir / "ca.pem",
        server_cert=host_dir / "server-cert.pem",
        server_key=host_dir / "server-key.pem",
    )


def init_ca(tls_dir: Path, *, force: bool = False) -> CaPaths:
    """Create the CA and the control plane's client certificate; keep what already exists unless `force`."""
    paths = ca_paths(tls_dir)
    _private_dir(paths.dir)

    if force or not (paths.ca_cert.is_file() and paths.ca_key.is_file()):
        ca_key = _new_key()
        ca_cert = _ca_certificate(ca_key)
        # Key first: a crash in between leaves no ca.pem, so the next run starts over cleanly.
        _write(paths.ca_key, _key_pem(ca_key), 0o600)
        _write(paths.ca_cert, _cert_pem(ca_cert), 0o644)
        reissue_client = True
    else:
        ca_key = _load_key(paths.ca_key)
        ca_cert = _load_cert(paths.ca_cert)
        os.chmod(paths.ca_key, 0o600)
        reissue_client = force or not _client_cert_usable(paths, ca_cert)

    if reissue_client:
        cert, key = _issue_leaf(
            ca_cert,
            ca_key,
            common_name=CLIENT_COMMON_NAME,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            sans=[x509.DNSName(CLIENT_COMMON_NAME)],
        )
        _write(paths.client_key, _key_pem(key), 0o600)
        _write(paths.client_cert, _cert_pem(cert), 0o644)
    else:
        os.chmod(paths.client_key, 0o600)
    return paths


def make_host_cert(tls_dir: Path, name: str, *, ips: list[str], dns: list[str]) -> HostCertPaths:
    """Issue a server certificate for one dockerd, valid for exactly the given addresses and names."""
    host = host_cert_paths(tls_dir, name)
    sans = _subject_alt_names(ips, dns)
    ca = ca_paths(tls_dir)
    if not (ca.ca_cert.is_file() and ca.ca_key.is_file()):
        raise FileNotFoundError(f"no CA in {ca.dir}: run init_ca first")
    ca_cert = _load_cert(ca.ca_cert)
    ca_key = _load_key(ca.ca_key)

    cert, key = _issue_leaf(ca_cert, ca_key, common_name=name, usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)
    _private_dir(host.dir.parent)
    _private_dir(host.dir)
    _write(host.server_key, _key_pem(key), 0o600)
    _write(host.server_cert, _cert_pem(cert), 0o644)
    _write(host.ca_cert, ca.ca_cert.read_bytes(), 0o644)
    return host


def dockerd_instructions(host_paths: HostCertPaths, *, listen: str = "0.0.0.0:2376") -> str:
    """What an operator does on the host so its dockerd accepts only our control plane."""
    remote = {
        "ca": HOST_TLS_DIR / "ca.pem",
        "cert": HOST_TLS_DIR / "server-cert.pem",
        "key": HOST_TLS_DIR / "server-key.pem",
    }
    tcp = f"tcp://{listen}"
    unix = "unix:///var/run/docker.sock"
    daemon_json = {
        "tlsverify": True,
        "tlscacert": str(remote["ca"]),
        "tlscert": str(remote["cert"]),
        "tlskey": str(remote["key"]),
        "hosts": [unix, tcp],
    }
    flags = (
        f"dockerd --tlsverify --tlscacert {remote['ca']} --tlscert {remote['cert']} "
        f"--tlskey {remote['key']} -H {unix} -H {tcp}"
    )
    names = ", ".join(_san_strings(_load_cert(host_paths.server_cert)))
    port = listen.rsplit(":", 1)[-1]
    json_text = json.dumps(daemon_json, indent=2)
    return "\n".join(
        [
            f'Docker engine "{host_paths.name}" (certificate valid for: {names})',
            "",
            f"1. Copy these three files to {HOST_TLS_DIR}/ on the host",
            "   (owner root, directory 0700, server-key.pem 0600):",
            f"     {host_paths.ca_cert}  ->  {remote['ca']}",
            f"     {host_paths.server_cert}  ->  {remote['cert']}",
            f"     {host_paths.server_key}  ->  {remote['key']}",
            "",
            "2. Start dockerd with these flags:",
            f"     {flags}",
            "",
            "   or, equivalently, put this in /etc/docker/daemon.json:",
            *("     " + line for line in json_text.splitlines()),
            "",
            '   dockerd refuses "hosts" set both there and on its command line, and docker.service passes',
            '   "-H fd://": with daemon.json, override ExecStart with a plain "/usr/bin/dockerd".',
            "",
            f"3. Open port {port}/tcp to the control plane only, and register the engine as",
            f"   tcp://<one of the names above>:{port}",
        ]
    )


def docker_client(
    docker_url: str, tls_dir: Path, *, timeout: float = 10, api_version: str = "1.41"
) -> docker.DockerClient:
    """A docker-py client that proves itself with the control plane's certificate and checks the engine's."""
    parts = urlsplit(docker_url)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ValueError(f"docker_url must be tcp://HOST:PORT, got {docker_url!r}")
    if api_version == "auto":
        # "auto" asks the engine for its version inside the constructor: network I/O at client creation.
        raise ValueError("pin api_version; 'auto' makes a network call when the client is built")
    paths = ca_paths(tls_dir)
    tls = docker.tls.TLSConfig(
        client_cert=(str(paths.client_cert), str(paths.client_key)),
        ca_cert=str(paths.ca_cert),
        verify=True,
    )
    client = docker.DockerClient(base_url=docker_url, tls=tls, version=api_version, timeout=timeout)
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own CA (psf/requests#4726), and
    # those are commonly set host-wide: the engine would then fail verification. Proxies have no business
    # on this connection either.
    client.api.trust_env = False
    return client


def _check_host_name(name: str) -> None:
    if not isinstance(name, str) or not _HOST_NAME.match(name):
        raise ValueError(
            f"host name must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit: {name!r}"
        )


def _subject_alt_names(ips: list[str], dns: list[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for ip in ips:
        try:
            address = ipaddress.ip_address(ip.strip())
        except (ValueError, AttributeError):
            raise ValueError(f"not an IP address: {ip!r}") from None
        sans.append(x509.IPAddress(address))
    for name in dns:
        if not isinstance(name, str) or len(name) > 253 or not _DNS_NAME.match(name):
            raise ValueError(f"not a DNS name: {name!r}")
        sans.append(x509.DNSName(name.lower()))
    if not sans:
        raise ValueError("a server certificate needs at least one IP address or DNS name")
    return list(dict.fromkeys(sans))


def _san_strings(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.IPAddress)] + san.get_values_for_type(x509.DNSName)


def _client_cert_usable(paths: CaPaths, ca_cert: x509.Certificate) -> bool:
    if not (paths.client_cert.is_file() and paths.client_key.is_file()):
        return False
    try:
        cert = _load_cert(paths.client_cert)
        key = _load_key(paths.client_key)
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    same_key = cert.public_key().public_numbers() == key.public_key().public_numbers()
    return same_key and cert.not_valid_after_utc - _now() > REISSUE_BEFORE


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: SigningKey,
    *,
    common_name: str,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    now = _now()
    # A leaf outliving its CA would only fail later, and more confusingly.
    not_after = min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: expected an EC or RSA private key")
    return key


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Write-then-rename, so a reader (or a crash) never sees half a key.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
