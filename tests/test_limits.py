"""Every documented limit (docs/limits.md), at the limit and one past it."""

from __future__ import annotations

import asyncio

import pytest
from conftest import ERROR, OK

from eswifi.cli.radio import MAX_CONTROL_LINE, serve_control
from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.faults import MAX_HELD, Routed
from eswifi.emulator.handlers.tls import MAX_CREDENTIAL
from eswifi.emulator.profile import UART_C6
from eswifi.emulator.runtime import ModuleRuntime
from eswifi.emulator.state import RX_HIGH_WATER, RX_LOW_WATER, SOCKET_COUNT
from eswifi.testing import EmulatorHarness
from eswifi.wire.commands import MAX_ARGUMENT_TOKENS, MAX_LINE

VERBOSE_BAD_ARGUMENT = b"\r\n\r\nERROR: Bad Argument\r\n> "


def verbose(module: EmulatorHarness) -> EmulatorHarness:
    assert module.send(b"MT=0\r") == OK
    return module


def test_command_line_of_300_bytes_is_read_and_301_is_an_overflow(module: EmulatorHarness) -> None:
    verbose(module)
    at_limit = b"ZN=" + b"a" * (MAX_LINE - 3)
    # The command itself refuses a 297-letter name (with its Usage line) ...
    assert module.send(at_limit + b"\r") == (
        b"\r\n\r\nERROR: Bad Argument\r\nUsage: ZN <name>\r\n> "
    )
    # ... one byte more never reaches it: the overflow reply has no Usage line.
    assert module.send(at_limit + b"a\r") == VERBOSE_BAD_ARGUMENT
    assert module.send(b"ZN=Bench\r") == OK  # the next line is unaffected


def test_sixteen_argument_tokens_and_no_more(module: EmulatorHarness) -> None:
    verbose(module)
    many = b"P2=" + b",".join([b"1"] * MAX_ARGUMENT_TOKENS) + b"\r"
    assert b"Too Many Arguments" not in module.send(many)
    too_many = b"P2=" + b",".join([b"1"] * (MAX_ARGUMENT_TOKENS + 1)) + b"\r"
    assert module.send(too_many) == (
        b"\r\n\r\nERROR: Too Many Arguments\r\nUsage: P2 <0-65535>\r\n> "
    )


def test_s3_payload_up_to_max_send(joined: EmulatorHarness) -> None:
    limit = UART_C6.max_send
    server = joined.network.serve("10.0.0.2", 7000)
    joined.send(b"P1=0\rP3=10.0.0.2\rP4=7000\rP6=1\r")
    assert joined.send(b"S3=%d\r" % limit + bytes(limit)) == b"\r\n%d\r\nOK\r\n> " % limit
    assert len(server.peers[0].received) == limit
    assert joined.send(b"S3=%d\r" % (limit + 1)) == ERROR


def test_r1_read_size_up_to_1460(module: EmulatorHarness) -> None:
    assert module.send(b"R1=1460\r") == OK
    assert module.send(b"R1=1461\r") == ERROR
    assert module.send(b"R?\r").split(b",")[0] == b"\r\n1460"


def test_pg_upload_up_to_8192_bytes(module: EmulatorHarness) -> None:
    head, tail = b"-----BEGIN CERTIFICATE-----\n", b"\n-----END CERTIFICATE-----\n"
    pem = head + b"A" * (MAX_CREDENTIAL - len(head) - len(tail)) + tail
    assert len(pem) == MAX_CREDENTIAL
    reply = module.send(b"PG=0,0,%d\r" % MAX_CREDENTIAL + pem)
    assert b"Bad Argument" not in reply and not reply.startswith(b"\r\n\r\nERROR")
    assert module.send(b"PG=0,0,%d\r" % (MAX_CREDENTIAL + 1)) == ERROR


def test_four_sockets(module: EmulatorHarness) -> None:
    assert module.send(b"P0=%d\r" % (SOCKET_COUNT - 1)) == OK
    assert module.send(b"P0=%d\r" % SOCKET_COUNT) == ERROR


def test_backlog_register_range(module: EmulatorHarness) -> None:
    low, high = UART_C6.backlog_range
    assert module.send(b"P8=%d\r" % low) == OK
    assert module.send(b"P8=%d\r" % high) == OK
    assert module.send(b"P8=%d\r" % (high + 1)) == ERROR
    assert module.send(b"P8=%d\r" % (low - 1)) == ERROR


def test_a_server_serves_one_client_and_backlog_more_wait(joined: EmulatorHarness) -> None:
    joined.send(b"P1=0\rP2=5024\rP8=2\rP5=11\r")
    peers = [
        joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40000 + n))
        for n in range(4)  # one served, backlog + 1 waiting (as Linux counts a backlog)
    ]
    assert joined.output() == b"\r\n[TCP SVR] Accepted 127.0.0.1:40000\r\n> "
    with pytest.raises(ConnectionRefusedError, match="backlog"):
        joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40009))
    for n in range(1, 4):
        reply = joined.send(b"P5=10\r") + joined.output()
        assert b"[TCP SVR] Accepted 127.0.0.1:%d" % (40000 + n) in reply
    assert all(peer.conn is not None for peer in peers)


def test_receive_buffer_pauses_the_peer_at_16_kib_and_resumes_below_4_kib(
    joined: EmulatorHarness,
) -> None:
    joined.send(b"P1=0\rP2=5024\rP5=1\rR1=1460\r")
    peer = joined.network.connect("127.0.0.1", 5024, source=("127.0.0.1", 40001))
    joined.output()
    peer.send(bytes(RX_HIGH_WATER * 4))
    joined.output()
    conn = joined.engine.slot.connection
    assert conn is not None and conn.paused and RX_HIGH_WATER <= len(conn.rx) < 2 * RX_HIGH_WATER
    for _ in range(100):
        before = len(conn.rx)
        joined.send(b"R0\r")
        if not conn.paused:
            break
        assert before >= RX_LOW_WATER  # still paused: it had not drained below the mark
    assert not conn.paused and len(conn.rx) < RX_HIGH_WATER


def test_delayed_connects_held_at_once_are_bounded() -> None:
    module = EmulatorHarness()
    faults = module.engine.faults
    module.delay_connects(1000)
    for conn in range(MAX_HELD + 5):
        connect = m.Connect(
            conn=conn,
            transport=m.Transport.TCP,
            host="10.0.0.2",
            port=7000,
            local_host="127.0.0.1",
            local_port=0,
            keepalive=None,
        )
        assert faults.route(connect, now=0.0) == Routed()
    assert len(faults.due(10.0)) == MAX_HELD


def test_py_operation_timeout_range(module: EmulatorHarness) -> None:
    assert module.send(b"PY=1\r") == OK
    assert module.send(b"PY=600000\r") == OK
    assert module.send(b"PY=600001\r") == ERROR
    assert module.send(b"PY=0\r") == ERROR


def test_control_line_over_1024_bytes_leaves_the_channel_serving() -> None:
    async def scenario() -> tuple[bytes, str]:
        runtime = ModuleRuntime(ModuleEngine(), _NoLink())  # type: ignore[arg-type]
        task = asyncio.create_task(runtime.run())
        try:
            async with serve_control(runtime, ("127.0.0.1", 0)) as server:
                address = server.sockets[0].getsockname()[:2]
                reader, writer = await asyncio.open_connection(*address)
                writer.write(b"status " + b"x" * MAX_CONTROL_LINE + b"\n")
                first = await asyncio.wait_for(reader.readline(), 10)
                writer.close()
                reader, writer = await asyncio.open_connection(*address)
                writer.write(b"status\n")
                second = await asyncio.wait_for(reader.readline(), 10)
                writer.close()
                return first, second.decode()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    first, second = asyncio.run(scenario())
    assert first == b"error: line longer than %d bytes\n" % MAX_CONTROL_LINE
    assert second.startswith("ok joined=")


class _NoLink:
    name = "none"

    async def attach(self) -> None:
        await asyncio.Event().wait()

    def host_present(self) -> bool:
        return False

    async def aclose(self) -> None:
        pass


def test_uart_messages_held_during_a_command_are_bounded(joined: EmulatorHarness) -> None:
    depth = UART_C6.mr_queue_depth
    assert joined.send(b"S3=10\rabc") == b""  # busy: waiting for the rest of the payload
    for _ in range(depth):
        joined.vanish("eswifi-lab")  # Link Down
        joined.appear("eswifi-lab")  # Link Up: two messages a cycle
    assert joined.output() == b""  # never inside a command
    after = joined.advance(5.0)  # S2 passes: the reply, then what was held
    assert after.count(b"[INFO   ] Link") == depth
    assert after.endswith(b"[INFO   ] Link Up\r\nOK\r\n> ")  # the newest are kept
