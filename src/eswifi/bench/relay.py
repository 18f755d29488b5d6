"""The benchmark's baseline: a raw asyncio relay that answers the benchmark's commands.

Run as ``python -m eswifi.bench.relay [--pty]``; it prints ``link: URL`` like
``eswifi emulate``. It knows only the handful of commands the benchmark sends, answers
each with a reply of the module's size, and moves bytes between the host link and one
TCP peer (``S3``, ``R0``) or accepts peers (``P5=11``/``P5=10``) - what the emulator does,
minus the engine: no parser beyond CR, no registers, no state machine. Everything happens
in the I/O callbacks, so the ratio emulator/relay is the cost of the emulator itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Callable

from eswifi.wire.framing import OK_TERMINATOR, uart_async

ERROR = b"\r\n-1\r\nERROR\r\n> "


class Relay:
    """The host link's protocol: one command at a time, answered from callbacks."""

    def __init__(self, write: Callable[[bytes], None], query_size: int) -> None:
        self.write = write
        self._query_reply = b"\r\n" + b"0" * max(0, query_size - 10) + OK_TERMINATOR
        self._buffer = bytearray()
        self._payload = 0
        self._registers: dict[bytes, bytes] = {}
        self._peer: _Peer | None = None
        self._server: asyncio.Server | None = None
        self._client: _Peer | None = None
        self._waiting_read = False
        self._loop = asyncio.get_running_loop()

    def received(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            if self._payload:
                if len(self._buffer) < self._payload:
                    return
                chunk = bytes(self._buffer[: self._payload])
                del self._buffer[: self._payload]
                self._payload = 0
                if self._peer is None or self._peer.transport is None:
                    self.write(ERROR)
                    continue
                self._peer.transport.write(chunk)
                self.write(b"\r\n%d" % len(chunk) + OK_TERMINATOR)
                continue
            end = self._buffer.find(b"\r")
            if end < 0:
                return
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._command(line)

    def _command(self, line: bytes) -> None:
        code, _, value = line.partition(b"=")
        if code == b"S3":
            self._payload = int(value)
        elif code == b"R0":
            self._read()
        elif code == b"P?":
            self.write(self._query_reply)
        elif code == b"P6" and value == b"1":
            host, port = self._registers[b"P3"].decode(), int(self._registers[b"P4"])
            self._loop.create_task(self._connect(host, port))
        elif code == b"P6" and value == b"0":
            if self._peer is not None and self._peer.transport is not None:
                self._peer.transport.close()
            self._peer = None
            self.write(b"\r\n" + OK_TERMINATOR)
        elif code == b"P5" and value == b"11":
            self._loop.create_task(self._listen(int(self._registers.get(b"P2", b"0"))))
        elif code == b"P5" and value == b"10":
            if self._client is not None and self._client.transport is not None:
                self._client.transport.close()
            self._client = None
            self.write(b"\r\nWaiting on connection ..." + OK_TERMINATOR)
        elif code == b"P5" and value == b"0":
            if self._server is not None:
                self._server.close()
            self._server = None
            self.write(b"\r\n" + OK_TERMINATOR)
        else:
            self._registers[code] = value
            self.write(b"\r\n" + OK_TERMINATOR)

    def _read(self) -> None:
        peer = self._peer
        if peer is None:
            self.write(ERROR)
        elif peer.data:
            data = bytes(peer.data[:1460])
            del peer.data[:1460]
            if peer.transport is not None and len(peer.data) < 16384:
                peer.transport.resume_reading()
            self.write(b"\r\n" + data + OK_TERMINATOR)
        else:
            self._waiting_read = True  # answered when data arrives, as R0 waits

    def peer_data(self) -> None:
        if self._waiting_read:
            self._waiting_read = False
            self._read()

    async def _connect(self, host: str, port: int) -> None:
        _, self._peer = await self._loop.create_connection(lambda: _Peer(self), host, port)
        self.write(b"\r\n" + OK_TERMINATOR)

    async def _listen(self, port: int) -> None:
        def accepted() -> _Peer:
            peer = _Peer(self)
            self._client = peer
            return peer

        self._server = await self._loop.create_server(accepted, "127.0.0.1", port)
        self.write(b"\r\nWaiting on connection ..." + OK_TERMINATOR)


class _Peer(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.relay._client is self:
            port = transport.get_extra_info("peername")[1]
            self.relay.write(uart_async(b"[TCP SVR] Accepted 127.0.0.1:%d" % port))

    def data_received(self, data: bytes) -> None:
        self.data += data
        if len(self.data) >= 16384 and self.transport is not None:
            self.transport.pause_reading()
        self.relay.peer_data()


class _Console(asyncio.Protocol):
    def __init__(self, query_size: int) -> None:
        self.query_size = query_size

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.relay = Relay(transport.write, self.query_size)

    def data_received(self, data: bytes) -> None:
        self.relay.received(data)


async def serve(pty: bool, query_size: int) -> None:
    loop = asyncio.get_running_loop()
    if pty:
        import tty  # POSIX only

        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        print(f"link: {os.ttyname(slave)}", flush=True)

        pending = bytearray()

        def flush() -> None:
            with contextlib.suppress(BlockingIOError):
                while pending:
                    del pending[: os.write(master, pending)]
            if not pending:
                loop.remove_writer(master)

        def write(data: bytes) -> None:
            if not pending:
                with contextlib.suppress(BlockingIOError):
                    data = data[os.write(master, data) :]
                if not data:
                    return
                loop.add_writer(master, flush)
            pending.extend(data)

        relay = Relay(write, query_size)

        def readable() -> None:
            with contextlib.suppress(BlockingIOError):
                relay.received(os.read(master, 65536))

        loop.add_reader(master, readable)
        await asyncio.Event().wait()
    server = await loop.create_server(lambda: _Console(query_size), "127.0.0.1", 0)
    print(f"link: socket://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pty", action="store_true", help="serve a pty instead of TCP")
    parser.add_argument("--query-size", type=int, default=57, help="bytes of the P? reply")
    args = parser.parse_args()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.pty, args.query_size))
    except BrokenPipeError:  # the bench that started us is gone: leave quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
