"""TLS in memory: the certificate store (PG, PE, PF) and how P9/PA/PB shape a connect."""

from __future__ import annotations

import pytest
from conftest import ERROR, OK

from eswifi.emulator import messages as m
from eswifi.emulator.backends.fake import FakeTls
from eswifi.testing import EmulatorHarness

CA = b"-----BEGIN CERTIFICATE-----\nTEST-CA\n-----END CERTIFICATE-----\n"
OTHER_CA = b"-----BEGIN CERTIFICATE-----\nOTHER-CA\n-----END CERTIFICATE-----\n"
CONNECTED = b"\r\n[TCP  RC] Connecting to 10.0.0.7\r\nOK\r\n> "
FAILED = b"\r\n[TCP  RC] Connecting to 10.0.0.7\r\n[TCP  RC] Failed to connect\r\nERROR\r\n> "


def _upload(module: EmulatorHarness, data: bytes, *, index: int = 0, kind: int = 0) -> bytes:
    return module.send(b"PG=%d,%d,%04d\r" % (index, kind, len(data)) + data)


@pytest.fixture
def tls(joined: EmulatorHarness) -> EmulatorHarness:
    joined.network.serve("10.0.0.7", 443, tls=FakeTls(ca=b"TEST-CA", names=("iot.example",)))
    joined.send(b"P1=3\rP3=10.0.0.7\rP4=443\r")
    return joined


def test_pg_stores_credentials_in_memory_and_pe_reports_them(module: EmulatorHarness) -> None:
    assert module.send(b"PE\r") == b"\r\n1,1,1\r\nOK\r\n> "
    assert _upload(module, CA) == OK
    assert _upload(module, b"CERT", index=2, kind=1) == OK
    assert _upload(module, b"KEY", index=2, kind=2) == OK
    assert module.send(b"PE\r") == b"\r\n0,1,0\r\nOK\r\n> "
    assert module.send(b"PE=0\r") == b"\r\n0,1,1\r\nOK\r\n> "
    assert module.send(b"PE=2\r") == b"\r\n1,0,0\r\nOK\r\n> "
    assert module.engine.credentials.sets[0].ca == CA


def test_pg_payload_is_binary_and_never_runs_as_commands(module: EmulatorHarness) -> None:
    blob = b"P0=3\r\x00\x15\xff" * 10
    assert _upload(module, blob, kind=2) == OK
    assert module.send(b"P0\r") == b"\r\n0\r\nOK\r\n> "
    assert module.engine.credentials.sets[0].key == blob


def test_pg_with_identical_data_verifies(module: EmulatorHarness) -> None:
    _upload(module, CA)
    assert _upload(module, CA) == b"\r\n[CERTS   ] Match\r\nOK\r\n> "


def test_pg_zero_length_erases(module: EmulatorHarness) -> None:
    _upload(module, CA)
    assert module.send(b"PG=0,0,0\r") == OK
    assert module.send(b"PE=0\r") == b"\r\n1,1,1\r\nOK\r\n> "


def test_pg_short_payload_times_out_and_stores_nothing(module: EmulatorHarness) -> None:
    assert module.send(b"S2=100\rPG=0,0,10\rabc") == OK
    assert module.advance(0.1) == ERROR
    assert module.send(b"PE=0\r") == b"\r\n1,1,1\r\nOK\r\n> "


def test_tls_connect_with_the_right_ca(joined: EmulatorHarness) -> None:
    server = joined.network.serve("10.0.0.7", 443, tls=FakeTls(ca=b"TEST-CA"))
    joined.send(b"P1=3\rP3=10.0.0.7\rP4=443\r")
    _upload(joined, CA)
    assert joined.send(b"PF=0,0\rP9=2\rP6=1\r") == OK * 2 + CONNECTED
    server.peers[0].send(b"secure")
    assert joined.send(b"R0\r") == b"\r\nsecure\r\nOK\r\n> "
    assert joined.send(b"S3=2\rok") == b"\r\n2\r\nOK\r\n> "
    assert bytes(server.peers[0].received) == b"ok"


def test_tls_connect_with_a_wrong_ca_fails(tls: EmulatorHarness) -> None:
    _upload(tls, OTHER_CA)
    assert tls.send(b"P9=2\rP6=1\r") == OK + FAILED
    assert tls.send(b"R0\r") == b"\r\n-1\r\nERROR\r\n> "


def test_required_verification_without_a_ca_fails(tls: EmulatorHarness) -> None:
    assert tls.send(b"P9=2\rP6=1\r") == OK + FAILED


def test_optional_verification_checks_only_when_a_ca_is_uploaded(tls: EmulatorHarness) -> None:
    assert tls.send(b"P9=1\rP6=1\r") == OK + CONNECTED
    tls.send(b"P6=0\r")
    _upload(tls, OTHER_CA)
    assert tls.send(b"P6=1\r") == FAILED


def test_no_verification_ignores_a_wrong_ca(tls: EmulatorHarness) -> None:
    _upload(tls, OTHER_CA)
    assert tls.send(b"P9=0\rP6=1\r") == OK + CONNECTED


def test_pb1_only_reports_a_failed_check(tls: EmulatorHarness) -> None:
    _upload(tls, OTHER_CA)
    assert tls.send(b"P9=2\rPB=1\rP6=1\r") == OK * 2 + CONNECTED


def test_pf_selects_the_credential_set_per_socket(tls: EmulatorHarness) -> None:
    _upload(tls, OTHER_CA, index=0)
    _upload(tls, CA, index=1)
    assert tls.send(b"P9=2\rP6=1\r") == OK + FAILED
    assert tls.send(b"PF=0,1\rP6=1\r") == OK + CONNECTED
    tls.send(b"P0=1\rP1=3\rP3=10.0.0.7\rP4=443\rP9=2\r")
    assert tls.send(b"P6=1\r") == FAILED  # socket 1 still uses set 0


def test_pa_names_the_server_to_check(tls: EmulatorHarness) -> None:
    _upload(tls, CA)
    tls.send(b"P9=2\r")
    assert tls.send(b"PA=1,wrong.example\rP6=1\r") == OK + FAILED
    assert tls.send(b"PA=1,iot.example\rP6=1\r") == OK + CONNECTED


def test_client_certificate_goes_with_the_set(joined: EmulatorHarness) -> None:
    tls_server = FakeTls(ca=b"TEST-CA", require_client_certificate=True)
    joined.network.serve("10.0.0.7", 443, tls=tls_server)
    joined.send(b"P1=3\rP3=10.0.0.7\rP4=443\rP9=2\r")
    _upload(joined, CA)
    assert joined.send(b"P6=1\r") == FAILED
    _upload(joined, b"CERT", kind=1)
    _upload(joined, b"KEY", kind=2)
    assert joined.send(b"P6=1\r") == CONNECTED


def test_connect_effect_carries_the_settings(tls: EmulatorHarness) -> None:
    seen: list[m.Connect] = []
    original = tls.network.execute

    def spy(effect: m.Effect, *, now: float) -> None:
        if isinstance(effect, m.Connect):
            seen.append(effect)
        original(effect, now=now)

    tls.network.execute = spy  # type: ignore[method-assign]
    _upload(tls, CA, index=2)
    _upload(tls, b"CERT", index=2, kind=1)
    tls.send(b"PF=0,2\rP9=1\rPA=1,iot.example\rP6=1\r")
    assert seen[0].tls == m.TlsSettings(
        verify=m.TlsVerify.OPTIONAL, ca_pem=CA, cert_pem=b"CERT", server_name="iot.example"
    )


def test_tls_to_a_plain_server_fails(joined: EmulatorHarness) -> None:
    joined.network.serve("10.0.0.8", 80)
    joined.send(b"P1=3\rP3=10.0.0.8\rP4=80\rP9=0\r")
    assert joined.send(b"P6=1\r").endswith(b"Failed to connect\r\nERROR\r\n> ")
