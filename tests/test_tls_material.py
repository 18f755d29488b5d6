"""Uploaded TLS material that cannot be used fails the connect, never the process.

A CA that is not ASCII, a key encrypted with a pass phrase, junk: ``P6=1`` answers
``[TCP  RC] Failed to connect`` + ERROR and the emulator keeps running. OpenSSL is never
left to ask a terminal for a pass phrase (it would block the event loop).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from test_backend_asyncio import async_test, backend
from test_backend_transport import TlsEchoServer, server_context, tls_connect

from eswifi.emulator import messages as m
from eswifi.emulator.backends import tls_context
from eswifi.errors import CredentialError

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def encrypted_identity(ca: trustme.CA) -> tuple[bytes, bytes]:
    """A client certificate and its private key encrypted with a pass phrase."""
    client = ca.issue_cert("module@example.com")
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    return client.cert_chain_pems[0].bytes(), encrypted


BAD_CA = {
    "non-ASCII PEM": b"-----BEGIN\xe9",
    "non-ASCII in a certificate": (
        b"-----BEGIN CERTIFICATE-----\n\xff\xfe\n-----END CERTIFICATE-----\n"
    ),
    "junk": b"\x00\x01 not a certificate",
    "PEM header only": b"-----BEGIN CERTIFICATE-----\n",
}


@pytest.mark.parametrize("ca_pem", BAD_CA.values(), ids=BAD_CA.keys())
def test_an_unusable_ca_is_a_credential_error(ca_pem: bytes) -> None:
    with pytest.raises(CredentialError):
        tls_context.client_context(m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=ca_pem))


def test_an_encrypted_key_is_a_credential_error(ca: trustme.CA) -> None:
    certificate, key = encrypted_identity(ca)
    with pytest.raises(CredentialError, match="encrypted"):
        tls_context.client_context(
            m.TlsSettings(verify=m.TlsVerify.NONE, cert_pem=certificate, key_pem=key)
        )


def test_junk_identity_is_a_credential_error() -> None:
    with pytest.raises(CredentialError):
        tls_context.client_context(
            m.TlsSettings(verify=m.TlsVerify.NONE, cert_pem=b"\xe9junk", key_pem=b"junk")
        )


@pytest.mark.parametrize("ca_pem", BAD_CA.values(), ids=BAD_CA.keys())
@async_test
async def test_a_bad_ca_fails_the_connect_and_the_backend_goes_on(
    ca: trustme.CA, ca_pem: bytes
) -> None:
    bad = m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=ca_pem)
    good = m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=ca.cert_pem.bytes())
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        assert isinstance(await tls_connect(network, events, server.port, bad), m.ConnectFailed)
        assert isinstance(await tls_connect(network, events, server.port, good), m.Connected)


@async_test
async def test_an_encrypted_key_fails_the_connect(ca: trustme.CA) -> None:
    certificate, key = encrypted_identity(ca)
    settings = m.TlsSettings(verify=m.TlsVerify.NONE, cert_pem=certificate, key_pem=key)
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        failed = await tls_connect(network, events, server.port, settings)
        assert isinstance(failed, m.ConnectFailed)
        assert "encrypted" in failed.reason


CHILD = """
import sys
from eswifi.emulator import messages as m
from eswifi.emulator.backends import tls_context
tty = open(sys.argv[1], "r+b", buffering=0)  # the session's controlling terminal now
certificate, key = (open(p, "rb").read() for p in sys.argv[2:4])
try:
    tls_context.client_context(
        m.TlsSettings(verify=m.TlsVerify.NONE, cert_pem=certificate, key_pem=key)
    )
except Exception as exc:
    print("refused", type(exc).__name__, flush=True)
"""


def test_an_encrypted_key_never_prompts_on_the_terminal(ca: trustme.CA, tmp_path) -> None:
    """OpenSSL would ask the controlling terminal (and block the loop): never."""
    certificate, key = encrypted_identity(ca)
    names = ("cert.pem", "key.pem")
    (tmp_path / names[0]).write_bytes(certificate)
    (tmp_path / names[1]).write_bytes(key)
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, os.ttyname(slave), *(str(tmp_path / n) for n in names)],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    os.close(slave)
    try:
        assert child.stdout is not None
        out, _ = child.communicate(timeout=15)
        assert out.strip() == b"refused CredentialError"
        assert child.returncode == 0
    except subprocess.TimeoutExpired:
        pytest.fail("blocked on a pass phrase prompt")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
