"""The asyncio network backend against real loopback peers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import select
import socket
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from eswifi.emulator import messages as m
from eswifi.emulator.backends.asyncio_net import AsyncioNetwork, set_keepalive

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0
"""Upper bound for anything that should happen at once on loopback."""
HOST = "127.0.0.1"


def async_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class Events:
    """Collects what the backend posts."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[m.NetEvent] = asyncio.Queue()

    def __call__(self, event: m.NetEvent) -> None:
        self.queue.put_nowait(event)

    async def next(self) -> m.NetEvent:
        return await asyncio.wait_for(self.queue.get(), WAIT)

    def pending(self) -> list[m.NetEvent]:
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items

    async def data(self, conn: int, count: int) -> bytes:
        """Concatenate Received events of ``conn`` until ``count`` bytes arrived."""
        data = b""
        while len(data) < count:
            event = await self.next()
            assert isinstance(event, m.Received) and event.conn == conn, event
            data += event.data
        return data


@contextlib.asynccontextmanager
async def backend() -> AsyncIterator[tuple[AsyncioNetwork, Events]]:
    events = Events()
    network = AsyncioNetwork(events)
    try:
        yield network, events
    finally:
        await network.aclose()


async def listen(
    network: AsyncioNetwork,
    events: Events,
    *,
    listener: int = 1,
    backlog: int = 5,
    keepalive: m.KeepAlive | None = None,
) -> int:
    network.execute(
        m.Listen(listener=listener, host=HOST, port=0, backlog=backlog, keepalive=keepalive)
    )
    event = await events.next()
    assert isinstance(event, m.Listening) and event.listener == listener, event
    assert event.port > 0
    return event.port


class Client:
    """A real TCP peer on loopback."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.port: int = writer.get_extra_info("sockname")[1]

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def read_exactly(self, count: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(count), WAIT)

    async def read_to_eof(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), WAIT)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def accept(network: AsyncioNetwork, events: Events, conn: int, listener: int = 1) -> int:
    """Accept the next waiting client; returns its port."""
    network.execute(m.AcceptNext(listener=listener, conn=conn))
    event = await events.next()
    assert isinstance(event, m.Accepted), event
    assert (event.listener, event.conn, event.peer_host) == (listener, conn, HOST)
    return event.peer_port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- listening


@async_test
async def test_listen_reports_the_port_really_bound() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = await Client.connect(port)
        assert await accept(network, events, conn=7) == client.port
        await client.close()


@async_test
async def test_listen_on_a_port_in_use_fails_to_bind() -> None:
    with socket.socket() as other:
        other.bind((HOST, 0))
        other.listen()
        async with backend() as (network, events):
            network.execute(
                m.Listen(
                    listener=3, host=HOST, port=other.getsockname()[1], backlog=1, keepalive=None
                )
            )
            event = await events.next()
            assert isinstance(event, m.ListenFailed)
            assert (event.listener, event.bind_failed) == (3, True)
            assert event.reason


@async_test
async def test_clients_wait_in_the_backlog_and_are_accepted_in_arrival_order() -> None:
    async with backend() as (network, events):
        port = await listen(network, events, backlog=5)
        clients = [await Client.connect(port) for _ in range(3)]
        for number, client in enumerate(clients):
            client.writer.write(b"client %d" % number)
        # Nobody asked to accept: the three are still waiting in the kernel.
        assert events.pending() == []
        for number, client in enumerate(clients):
            conn = 100 + number
            assert await accept(network, events, conn=conn) == client.port
            assert await events.data(conn, 8) == b"client %d" % number
        for client in clients:
            await client.close()


@async_test
async def test_the_next_accept_may_be_asked_for_as_soon_as_a_client_is_announced() -> None:
    events = Events()

    def post(event: m.NetEvent) -> None:
        events(event)
        if isinstance(event, m.Accepted) and event.conn == 1:
            # The runtime applies events at once: the engine asks for the next client
            # from inside the callback that announced this one.
            network.execute(m.AcceptNext(listener=1, conn=2))

    network = AsyncioNetwork(post)
    try:
        port = await listen(network, events)
        first, second = await Client.connect(port), await Client.connect(port)
        network.execute(m.AcceptNext(listener=1, conn=1))
        accepted = [await events.next(), await events.next()]
        assert [type(event) for event in accepted] == [m.Accepted, m.Accepted]
        assert [event.conn for event in accepted] == [1, 2]  # type: ignore[attr-defined]
        for client in (first, second):
            await client.close()
    finally:
        await network.aclose()


@async_test
async def test_data_flows_both_ways() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = await Client.connect(port)
        await accept(network, events, conn=5)
        payload = bytes(range(256)) * 64
        client.writer.write(payload)
        assert await events.data(5, len(payload)) == payload
        reply = b"\r\n> binary\x00\xff"
        network.execute(m.Send(conn=5, data=reply))
        assert await events.next() == m.Sent(conn=5, count=len(reply))
        assert await client.read_exactly(len(reply)) == reply
        await client.close()


@async_test
async def test_peer_close_after_data_delivers_the_data_then_peer_closed() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = await Client.connect(port)
        await accept(network, events, conn=9)
        client.writer.write(b"last words")
        await client.close()
        assert await events.data(9, 10) == b"last words"
        assert await events.next() == m.PeerClosed(conn=9)
        network.execute(m.Send(conn=9, data=b"too late"))
        event = await events.next()
        assert isinstance(event, m.SendFailed) and event.conn == 9
        assert events.pending() == []


@async_test
async def test_peer_reset_reports_connection_lost() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = socket.create_connection((HOST, port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await accept(network, events, conn=4)
        client.close()  # linger 0: RST
        event = await events.next()
        assert isinstance(event, m.ConnectionLost) and event.conn == 4, event
        assert event.reason


@async_test
async def test_pause_reading_holds_data_until_resumed() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        paused, probe = await Client.connect(port), await Client.connect(port)
        await accept(network, events, conn=1)
        await accept(network, events, conn=2)
        network.execute(m.PauseReading(conn=1))
        paused.writer.write(b"held back")
        await paused.writer.drain()
        server_side = network._conns[1].transport.get_extra_info("socket")
        # The bytes are in the module-side socket, ready to be read ...
        assert select.select([server_side.fileno()], [], [], WAIT)[0]
        # ... and a full loop round trip on another connection does not read them.
        probe.writer.write(b"ping")
        assert await events.data(2, 4) == b"ping"
        assert events.pending() == []
        network.execute(m.ResumeReading(conn=1))
        assert await events.data(1, 9) == b"held back"
        await paused.close()
        await probe.close()


@async_test
async def test_send_while_the_peer_does_not_read_is_held_until_it_reads() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = await Client.connect(port)
        await accept(network, events, conn=3)
        chunk = b"x" * 256 * 1024
        sent = 0
        for _ in range(400):  # far more than loopback socket buffers hold
            network.execute(m.Send(conn=3, data=chunk))
            acknowledged = events.pending()
            if not acknowledged:
                break
            assert acknowledged == [m.Sent(conn=3, count=len(chunk))]
            sent += len(chunk)
        else:
            pytest.fail("writing never paused")
        # The held chunk is written, and Sent posted, once the peer reads.
        await client.read_exactly(sent)
        assert await events.next() == m.Sent(conn=3, count=len(chunk))
        await client.read_exactly(len(chunk))
        await client.close()


@async_test
async def test_cancel_send_drops_held_data_without_an_answer() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = await Client.connect(port)
        await accept(network, events, conn=3)
        chunk = b"y" * 256 * 1024
        sent = 0
        for _ in range(400):
            network.execute(m.Send(conn=3, data=chunk))
            if not events.pending():
                break
            sent += len(chunk)
        else:
            pytest.fail("writing never paused")
        network.execute(m.CancelSend(conn=3))
        network.execute(m.CloseConnection(conn=3))
        assert len(await client.read_to_eof()) == sent
        assert events.pending() == []
        await client.close()


# --------------------------------------------------------------------------- closing


@async_test
async def test_close_connection_ends_the_peer_stream_and_reports_nothing() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        client = await Client.connect(port)
        await accept(network, events, conn=8)
        network.execute(m.Send(conn=8, data=b"bye"))
        network.execute(m.CloseConnection(conn=8))
        assert await client.read_to_eof() == b"bye"
        assert events.pending() == [m.Sent(conn=8, count=3)]
        network.execute(m.CloseConnection(conn=8))  # unknown by now: ignored
        network.execute(m.PauseReading(conn=8))
        await client.close()


@async_test
async def test_stop_listening_cancels_the_pending_accept_and_refuses_new_clients() -> None:
    async with backend() as (network, events):
        port = await listen(network, events)
        waiting = await Client.connect(port)
        network.execute(m.StopListening(listener=1))
        with contextlib.suppress(ConnectionResetError):  # dropped from the backlog
            assert await waiting.read_to_eof() == b""
        await waiting.close()
        port = await listen(network, events, listener=2)
        network.execute(m.AcceptNext(listener=2, conn=20))
        network.execute(m.StopListening(listener=2))
        with pytest.raises(ConnectionRefusedError):
            await Client.connect(port)
        assert events.pending() == []


@async_test
async def test_accept_next_on_an_unknown_listener_fails() -> None:
    async with backend() as (network, events):
        network.execute(m.AcceptNext(listener=99, conn=1))
        event = await events.next()
        assert isinstance(event, m.AcceptFailed) and (event.listener, event.conn) == (99, 1)


@async_test
async def test_send_on_an_unknown_connection_fails() -> None:
    async with backend() as (network, events):
        network.execute(m.Send(conn=42, data=b"x"))
        event = await events.next()
        assert isinstance(event, m.SendFailed) and event.conn == 42


@async_test
async def test_aclose_closes_listeners_and_connections() -> None:
    events = Events()
    network = AsyncioNetwork(events)
    port = await listen(network, events)
    client = await Client.connect(port)
    await accept(network, events, conn=1)
    network.execute(m.AcceptNext(listener=1, conn=2))
    await network.aclose()
    assert await client.read_to_eof() == b""
    await client.close()
    with pytest.raises(ConnectionRefusedError):
        await Client.connect(port)
    assert events.pending() == []


# --------------------------------------------------------------------------- connecting


@async_test
async def test_connect_reports_the_local_port() -> None:
    accepted: asyncio.Queue[int] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(writer.get_extra_info("peername")[1])
        writer.write(await reader.readexactly(5))
        writer.close()

    server = await asyncio.start_server(on_client, HOST, 0)
    async with server, backend() as (network, events):
        network.execute(
            m.Connect(
                conn=11,
                transport=m.Transport.TCP,
                host=HOST,
                port=server.sockets[0].getsockname()[1],
                local_host=HOST,
                local_port=0,
                keepalive=None,
            )
        )
        event = await events.next()
        assert isinstance(event, m.Connected) and event.conn == 11
        assert event.local_port == await asyncio.wait_for(accepted.get(), WAIT)
        network.execute(m.Send(conn=11, data=b"echo!"))
        assert await events.next() == m.Sent(conn=11, count=5)
        assert await events.data(11, 5) == b"echo!"
        assert await events.next() == m.PeerClosed(conn=11)


@async_test
async def test_connect_from_a_port_another_host_program_holds_goes_out_from_a_free_one() -> None:
    accepted: asyncio.Queue[int] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(writer.get_extra_info("peername")[1])
        writer.close()

    server = await asyncio.start_server(on_client, HOST, 0)
    with socket.socket() as holder:  # listening: no SO_REUSEADDR bind can share its port
        holder.bind((HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        async with server, backend() as (network, events):
            network.execute(
                m.Connect(
                    conn=12,
                    transport=m.Transport.TCP,
                    host=HOST,
                    port=server.sockets[0].getsockname()[1],
                    local_host=HOST,
                    local_port=taken,
                    keepalive=None,
                )
            )
            event = await events.next()
            assert isinstance(event, m.Connected) and event.conn == 12, event
            source = await asyncio.wait_for(accepted.get(), WAIT)
            assert source == event.local_port != taken


@async_test
async def test_connect_to_a_closed_port_fails() -> None:
    async with backend() as (network, events):
        # (UDP has no connect: its sockets are tested in test_backend_transport.py.)
        for conn, transport in ((1, m.Transport.TCP),):
            network.execute(
                m.Connect(
                    conn=conn,
                    transport=transport,
                    host=HOST,
                    port=free_port(),
                    local_host="",
                    local_port=0,
                    keepalive=None,
                )
            )
            event = await events.next()
            assert isinstance(event, m.ConnectFailed) and event.conn == conn, event
            assert event.reason


# --------------------------------------------------------------------------- keep-alive

KEEPALIVE = m.KeepAlive(idle_ms=3000, interval_ms=1500, probes=3)


def _keepalive_settings(sock: socket.socket) -> tuple[int, ...]:
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    )


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="needs TCP_KEEPIDLE")
def test_keepalive_timings_are_whole_seconds_of_at_least_one() -> None:
    with socket.socket() as sock:
        set_keepalive(sock, m.KeepAlive(idle_ms=250, interval_ms=1001, probes=0))
        assert _keepalive_settings(sock) == (1, 1, 2, 1)


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="needs TCP_KEEPIDLE")
@async_test
async def test_keepalive_applies_to_the_listener_and_accepted_sockets() -> None:
    async with backend() as (network, events):
        port = await listen(network, events, keepalive=KEEPALIVE)
        assert _keepalive_settings(network._listeners[1].sock) == (1, 3, 2, 3)
        client = await Client.connect(port)
        await accept(network, events, conn=1)
        accepted = network._conns[1].transport.get_extra_info("socket")
        assert _keepalive_settings(accepted) == (1, 3, 2, 3)
        await client.close()
