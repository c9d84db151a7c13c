"""HTTPS upstreams: verified against the system's trust store or a configured CA bundle."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ironplane.core.errors import ConfigError
from ironplane.gateway.config import load
from tests.gateway.conftest import base_config, running_gateway
from tests.gateway.openai_mock import MockUpstream, openai_upstream

MESSAGES = [{"role": "user", "content": "hi"}]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[MockUpstream, Path]]:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with openai_upstream(tls=context) as mock:
        yield mock, cert


def test_https_upstream_with_a_private_ca(
    tls_upstream: tuple[MockUpstream, Path], tmp_path: Path
) -> None:
    mock, cert = tls_upstream
    cfg = base_config(mock.url)
    cfg["providers"][0]["ca_file"] = str(cert)
    with running_gateway(cfg, tmp_path) as gw:
        client = gw.client()
        assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
        chunks = list(client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
        assert len(chunks) == 6
    assert len(mock.requests) == 2


def test_an_unverifiable_upstream_is_refused(
    tls_upstream: tuple[MockUpstream, Path], tmp_path: Path
) -> None:
    mock, _ = tls_upstream
    with running_gateway(base_config(mock.url), tmp_path) as gw:
        with pytest.raises(openai.APIStatusError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 502
        assert "CERTIFICATE_VERIFY_FAILED" in failed.value.message
    assert mock.requests == []


def test_an_unverifiable_upstream_is_not_held_as_a_starting_one(
    tls_upstream: tuple[MockUpstream, Path], tmp_path: Path
) -> None:
    mock, _ = tls_upstream
    cfg = base_config(mock.url)
    cfg["models"][0]["cold_start"] = "30m"  # were it held, the client would give up first
    with running_gateway(cfg, tmp_path) as gw:
        with pytest.raises(openai.APIStatusError) as failed:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert failed.value.status_code == 502
        assert "CERTIFICATE_VERIFY_FAILED" in failed.value.message
        assert gw.call(lambda: dict(gw.running.gateway.metrics.holds)) == {}


def test_ca_file_is_checked_at_load(tmp_path: Path) -> None:
    import yaml

    cfg = base_config("https://127.0.0.1:1/v1")
    cfg["providers"][0]["ca_file"] = str(tmp_path / "missing.pem")
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as bad:
        load(path)
    assert "providers[0].ca_file: cannot use" in bad.value.message
