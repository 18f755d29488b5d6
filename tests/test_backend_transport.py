"""The asyncio backend's UDP and TLS sockets against real loopback peers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

import pytest
import trustme
from test_backend_asyncio import HOST, WAIT, Events, async_test, backend

from eswifi.emulator import messages as m
from eswifi.emulator.backends import tls_context
from eswifi.emulator.backends.asyncio_net import AsyncioNetwork
from eswifi.errors import CredentialError

pytestmark = pytest.mark.timeout(30)

UDP_LITE = getattr(socket, "IPPROTO_UDPLITE", None)


def udp_peer(transport: m.Transport = m.Transport.UDP) -> socket.socket:
    lite = transport is m.Transport.UDP_LITE and UDP_LITE is not None
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, UDP_LITE if lite else 0)
    peer.bind((HOST, 0))
    peer.settimeout(WAIT)
    return peer


async def open_udp(
    network: AsyncioNetwork,
    events: Events,
    *,
    conn: int = 1,
    port: int = 0,
    transport: m.Transport = m.Transport.UDP,
) -> m.NetEvent:
    network.execute(
        m.Connect(
            conn=conn,
            transport=transport,
            host="0.0.0.0",
            port=0,
            local_host=HOST,
            local_port=port,
            keepalive=None,
        )
    )
    return await events.next()


# --------------------------------------------------------------------------- UDP


@pytest.mark.parametrize("transport", [m.Transport.UDP, m.Transport.UDP_LITE])
@async_test
async def test_udp_socket_sends_and_receives_datagrams(transport: m.Transport) -> None:
    async with backend() as (network, events):
        opened = await open_udp(network, events, transport=transport)
        assert isinstance(opened, m.Connected) and opened.local_port > 0
        with udp_peer(transport) as peer:  # UDP-Lite talks only to UDP-Lite
            target = peer.getsockname()
            network.execute(m.SendDatagram(conn=1, data=b"ping", host=HOST, port=target[1]))
            assert await events.next() == m.Sent(conn=1, count=4)
            data, source = await asyncio.to_thread(peer.recvfrom, 2048)
            assert (data, source) == (b"ping", (HOST, opened.local_port))
            peer.sendto(b"pong", source)
            peer.sendto(b"", source)
            assert await events.next() == m.DatagramReceived(
                conn=1, data=b"pong", host=HOST, port=target[1]
            )
            assert await events.next() == m.DatagramReceived(
                conn=1, data=b"", host=HOST, port=target[1]
            )


@async_test
async def test_udp_socket_binds_the_port_asked_for() -> None:
    with udp_peer() as probe:
        free = probe.getsockname()[1]
    async with backend() as (network, events):
        opened = await open_udp(network, events, port=free)
        assert opened == m.Connected(conn=1, local_port=free)


@async_test
async def test_udp_bind_conflict_fails() -> None:
    with udp_peer() as taken:
        async with backend() as (network, events):
            failed = await open_udp(network, events, port=taken.getsockname()[1])
            assert isinstance(failed, m.ConnectFailed) and failed.conn == 1


@async_test
async def test_closed_udp_socket_frees_its_port_and_refuses_sends() -> None:
    async with backend() as (network, events):
        opened = await open_udp(network, events)
        assert isinstance(opened, m.Connected)
        network.execute(m.CloseConnection(conn=1))
        network.execute(m.SendDatagram(conn=1, data=b"x", host=HOST, port=9))
        assert isinstance(await events.next(), m.SendFailed)
        for _ in range(100):  # the close completes within a few loop turns
            await asyncio.sleep(0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind((HOST, opened.local_port))


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


class TlsEchoServer:
    """A loopback TLS server that echoes what it receives."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.port = 0
        self.handshakes = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> TlsEchoServer:
        self.server = await asyncio.start_server(self._serve, HOST, 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        with contextlib.suppress(OSError):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        writer.close()


def server_context(ca: trustme.CA, *, client_certificates: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", HOST).configure_cert(context)
    if client_certificates:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


async def tls_connect(
    network: AsyncioNetwork, events: Events, port: int, settings: m.TlsSettings
) -> m.NetEvent:
    network.execute(
        m.Connect(
            conn=5,
            transport=m.Transport.TCP,
            host=HOST,
            port=port,
            local_host=HOST,
            local_port=0,
            keepalive=None,
            tls=settings,
        )
    )
    return await events.next()


@async_test
async def test_tls_client_verifies_with_the_uploaded_ca(ca: trustme.CA) -> None:
    settings = m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=ca.cert_pem.bytes())
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        assert isinstance(await tls_connect(network, events, server.port, settings), m.Connected)
        network.execute(m.Send(conn=5, data=b"secret"))
        assert await events.next() == m.Sent(conn=5, count=6)
        assert await events.next() == m.Received(conn=5, data=b"secret")


@pytest.mark.parametrize(
    "verify", [m.TlsVerify.REQUIRED, m.TlsVerify.OPTIONAL], ids=["required", "optional"]
)
@async_test
async def test_tls_client_rejects_a_server_of_another_ca(
    ca: trustme.CA, verify: m.TlsVerify
) -> None:
    other = trustme.CA()
    settings = m.TlsSettings(verify=verify, ca_pem=other.cert_pem.bytes())
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        failed = await tls_connect(network, events, server.port, settings)
        assert isinstance(failed, m.ConnectFailed)
        assert "certificate verify failed" in failed.reason


@async_test
async def test_tls_required_without_a_ca_fails(ca: trustme.CA) -> None:
    settings = m.TlsSettings(verify=m.TlsVerify.REQUIRED)
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        assert isinstance(
            await tls_connect(network, events, server.port, settings), m.ConnectFailed
        )


@pytest.mark.parametrize(
    "settings",
    [
        m.TlsSettings(verify=m.TlsVerify.NONE, ca_pem=trustme.CA().cert_pem.bytes()),
        m.TlsSettings(verify=m.TlsVerify.OPTIONAL),
    ],
    ids=["none-with-a-wrong-ca", "optional-without-a-ca"],
)
@async_test
async def test_tls_without_a_check_connects_anywhere(
    ca: trustme.CA, settings: m.TlsSettings
) -> None:
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        assert isinstance(await tls_connect(network, events, server.port, settings), m.Connected)


@async_test
async def test_tls_checks_the_name_given_with_pa(ca: trustme.CA) -> None:
    pem = ca.cert_pem.bytes()
    async with TlsEchoServer(server_context(ca)) as server, backend() as (network, events):
        good = m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=pem, server_name="localhost")
        assert isinstance(await tls_connect(network, events, server.port, good), m.Connected)
        network.execute(m.CloseConnection(conn=5))
        bad = m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=pem, server_name="other.example")
        failed = await tls_connect(network, events, server.port, bad)
        assert isinstance(failed, m.ConnectFailed) and "mismatch" in failed.reason.lower()


@async_test
async def test_tls_client_certificate_from_memory(ca: trustme.CA) -> None:
    client = ca.issue_cert("module@example.com")
    identity = m.TlsSettings(
        verify=m.TlsVerify.REQUIRED,
        ca_pem=ca.cert_pem.bytes(),
        cert_pem=client.cert_chain_pems[0].bytes(),
        key_pem=client.private_key_pem.bytes(),
    )
    context = server_context(ca, client_certificates=True)
    async with TlsEchoServer(context) as server, backend() as (network, events):
        assert isinstance(await tls_connect(network, events, server.port, identity), m.Connected)
        network.execute(m.Send(conn=5, data=b"mutual"))
        assert await events.next() == m.Sent(conn=5, count=6)
        assert await events.next() == m.Received(conn=5, data=b"mutual")


def test_unusable_credentials_are_a_credential_error() -> None:
    with pytest.raises(CredentialError):
        tls_context.client_context(
            m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=b"-----BEGIN CERTIFICATE-----\n")
        )
    with pytest.raises(CredentialError):
        tls_context.client_context(
            m.TlsSettings(verify=m.TlsVerify.NONE, cert_pem=b"junk", key_pem=b"junk")
        )


@async_test
async def test_bad_credentials_fail_the_connect_without_touching_the_network() -> None:
    settings = m.TlsSettings(verify=m.TlsVerify.REQUIRED, ca_pem=b"not a certificate")
    async with backend() as (network, events):
        assert isinstance(await tls_connect(network, events, 9, settings), m.ConnectFailed)


@async_test
async def test_tcp_client_reuses_a_fixed_local_port_at_once() -> None:
    # The first connection leaves the local port in TIME_WAIT; the next connect from that
    # port (to another server: the same 4-tuple stays taken, as in lwIP) still binds it.
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the module closes first
        writer.close()

    servers = [await asyncio.start_server(hold, HOST, 0) for _ in range(2)]
    with udp_peer() as probe:
        local = probe.getsockname()[1]
    try:
        async with backend() as (network, events):
            for conn, server in enumerate(servers, start=1):
                network.execute(
                    m.Connect(
                        conn=conn,
                        transport=m.Transport.TCP,
                        host=HOST,
                        port=server.sockets[0].getsockname()[1],
                        local_host=HOST,
                        local_port=local,
                        keepalive=None,
                    )
                )
                assert await events.next() == m.Connected(conn=conn, local_port=local)
                network.execute(m.CloseConnection(conn=conn))
    finally:
        for server in servers:
            server.close()
