import ipaddress
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from yourclaw.runtime.certs import (
    CLIENT_COMMON_NAME,
    docker_client,
    dockerd_instructions,
    init_ca,
    make_host_cert,
)

pytestmark = pytest.mark.unit


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    return tmp_path / "tls"


def test_init_ca_writes_private_files(tls_dir: Path) -> None:
    paths = init_ca(tls_dir)

    assert mode(tls_dir) == 0o700
    assert mode(paths.ca_key) == 0o600
    assert mode(paths.client_key) == 0o600
    assert all(p.is_file() for p in (paths.ca_cert, paths.ca_key, paths.client_cert, paths.client_key))
    assert not list(tls_dir.glob(".*")), "no temporary files left behind"


def test_ca_is_a_ca(tls_dir: Path) -> None:
    ca = load(init_ca(tls_dir).ca_cert)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 9 * 365


def test_client_cert_is_for_client_auth_and_verifies(tls_dir: Path) -> None:
    paths = init_ca(tls_dir)
    cert = load(paths.client_cert)

    assert eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.rfc4514_string() == f"CN={CLIENT_COMMON_NAME}"
    verifier = PolicyBuilder().store(Store([load(paths.ca_cert)])).build_client_verifier()
    verifier.verify(cert, [])


def test_host_cert_has_sans_server_eku_and_verifies(tls_dir: Path) -> None:
    init_ca(tls_dir)
    host = make_host_cert(tls_dir, "eu-1.a_b", ips=["127.0.0.1", "::1"], dns=["Docker-1.Example.com"])

    assert host.dir == tls_dir / "hosts" / "eu-1.a_b"
    assert mode(host.server_key) == 0o600
    assert host.ca_cert.read_bytes() == (tls_dir / "ca.pem").read_bytes()
    cert = load(host.server_cert)
    assert eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = sans(cert)
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert names.get_values_for_type(x509.DNSName) == ["docker-1.example.com"]

    store = Store([load(host.ca_cert)])
    for subject in (
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("docker-1.example.com"),
    ):
        PolicyBuilder().store(store).build_server_verifier(subject).verify(cert, [])
    with pytest.raises(VerificationError):
        PolicyBuilder().store(store).build_server_verifier(x509.IPAddress(ipaddress.ip_address("10.9.9.9"))).verify(
            cert, []
        )


def test_host_cert_from_another_ca_does_not_verify(tmp_path: Path) -> None:
    init_ca(tmp_path / "a")
    init_ca(tmp_path / "b")
    host = make_host_cert(tmp_path / "b", "h", ips=["127.0.0.1"], dns=[])

    store = Store([load(tmp_path / "a" / "ca.pem")])
    verifier = PolicyBuilder().store(store).build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    with pytest.raises(VerificationError):
        verifier.verify(load(host.server_cert), [])


def test_init_ca_is_idempotent(tls_dir: Path) -> None:
    paths = init_ca(tls_dir)
    before = {p: p.read_bytes() for p in (paths.ca_cert, paths.ca_key, paths.client_cert, paths.client_key)}

    init_ca(tls_dir)

    assert {p: p.read_bytes() for p in before} == before


def test_init_ca_force_regenerates(tls_dir: Path) -> None:
    paths = init_ca(tls_dir)
    old_ca = paths.ca_cert.read_bytes()
    old_client = paths.client_cert.read_bytes()

    init_ca(tls_dir, force=True)

    assert paths.ca_cert.read_bytes() != old_ca
    assert paths.client_cert.read_bytes() != old_client
    load(paths.client_cert).verify_directly_issued_by(load(paths.ca_cert))


def test_init_ca_reissues_a_client_cert_from_an_old_ca(tls_dir: Path, tmp_path: Path) -> None:
    paths = init_ca(tls_dir)
    other = init_ca(tmp_path / "other")
    paths.client_cert.write_bytes(other.client_cert.read_bytes())
    paths.client_key.write_bytes(other.client_key.read_bytes())

    init_ca(tls_dir)

    load(paths.client_cert).verify_directly_issued_by(load(paths.ca_cert))


def test_init_ca_restores_key_modes(tls_dir: Path) -> None:
    paths = init_ca(tls_dir)
    paths.ca_key.chmod(0o644)
    tls_dir.chmod(0o755)

    init_ca(tls_dir)

    assert mode(paths.ca_key) == 0o600
    assert mode(tls_dir) == 0o700


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "a b", "é", "x" * 64])
def test_bad_host_name_is_rejected(tls_dir: Path, name: str) -> None:
    init_ca(tls_dir)
    with pytest.raises(ValueError):
        make_host_cert(tls_dir, name, ips=["127.0.0.1"], dns=[])
    assert not (tls_dir / "hosts").exists() or not any((tls_dir / "hosts").iterdir())


@pytest.mark.parametrize(
    ("ips", "dns"),
    [
        (["999.1.1.1"], []),
        (["localhost"], []),
        (["10.0.0.1/24"], []),
        ([], []),
        ([], ["bad name"]),
        ([], ["-bad.example"]),
    ],
)
def test_bad_subject_alt_names_are_rejected(tls_dir: Path, ips: list[str], dns: list[str]) -> None:
    init_ca(tls_dir)
    with pytest.raises(ValueError):
        make_host_cert(tls_dir, "h", ips=ips, dns=dns)


def test_host_cert_needs_a_ca(tls_dir: Path) -> None:
    with pytest.raises(FileNotFoundError):
        make_host_cert(tls_dir, "h", ips=["127.0.0.1"], dns=[])


def test_dockerd_instructions_give_flags_and_daemon_json(tls_dir: Path) -> None:
    init_ca(tls_dir)
    host = make_host_cert(tls_dir, "h1", ips=["192.0.2.10"], dns=["h1.example.com"])

    text = dockerd_instructions(host, listen="0.0.0.0:2376")

    assert "--tlsverify --tlscacert /etc/docker/tls/ca.pem" in text
    assert "--tlscert /etc/docker/tls/server-cert.pem --tlskey /etc/docker/tls/server-key.pem" in text
    assert "-H tcp://0.0.0.0:2376" in text
    assert str(host.server_key) in text
    assert "192.0.2.10" in text and "h1.example.com" in text
    block = text[text.index("{") : text.rindex("}") + 1]
    daemon = json.loads(block)
    assert daemon == {
        "tlsverify": True,
        "tlscacert": "/etc/docker/tls/ca.pem",
        "tlscert": "/etc/docker/tls/server-cert.pem",
        "tlskey": "/etc/docker/tls/server-key.pem",
        "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
    }


@pytest.mark.parametrize(
    "url", ["unix:///var/run/docker.sock", "https://127.0.0.1:2376", "tcp://127.0.0.1", "127.0.0.1:2376"]
)
def test_docker_client_needs_a_tcp_url(tls_dir: Path, url: str) -> None:
    init_ca(tls_dir)
    with pytest.raises(ValueError):
        docker_client(url, tls_dir)


def test_docker_client_refuses_auto_version(tls_dir: Path) -> None:
    init_ca(tls_dir)
    with pytest.raises(ValueError):
        docker_client("tcp://127.0.0.1:2376", tls_dir, api_version="auto")


def test_docker_client_is_built_without_network(tls_dir: Path) -> None:
    init_ca(tls_dir)
    # Port 9 on loopback answers nothing: building the client must not try it.
    client = docker_client("tcp://127.0.0.1:9", tls_dir, timeout=3)
    try:
        assert client.api.base_url == "https://127.0.0.1:9"
        assert client.api._version == "1.41"
    finally:
        client.close()


def test_docker_client_keeps_its_ca_despite_environment(tls_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = init_ca(tls_dir)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = docker_client("tcp://127.0.0.1:2376", tls_dir)
    try:
        settings = client.api.merge_environment_settings("https://127.0.0.1:2376/v1.41/version", {}, None, None, None)
        assert settings["verify"] == str(paths.ca_cert)
        assert settings["cert"] == (str(paths.client_cert), str(paths.client_key))
        assert not settings["proxies"]
    finally:
        client.close()
