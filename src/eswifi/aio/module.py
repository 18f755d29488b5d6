"""The asyncio module API: ``await Module.open(url)``, then the same calls as the sync
client (:class:`eswifi.client.Module`) as coroutines, plus asyncio streams.

A :class:`Module` owns one :class:`~eswifi.aio.channel.AioChannel` and a cache of the
per-socket registers it set (``P0`` selection, ``R1``, ``R2`` …), so repeated operations
do not resend what the module already has; the cache is dropped after a resync, a reset or
a raw :meth:`Module.command`. Each socket sequence (select, set, act) runs under the
module's sequence lock so two tasks never interleave their ``P0`` selections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket as _socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Literal, Self

from eswifi.aio import streams
from eswifi.aio.channel import DEFAULT_TIMEOUT, AioChannel
from eswifi.aio.link import open_link
from eswifi.client import answers
from eswifi.client.answers import AccessPoint, ModuleInfo, Security, command_error
from eswifi.errors import NameResolutionError, RemoteProtocolError, SocketError
from eswifi.wire.replies import MAX_READ, AsyncMessage, Reply

SOCKET_COUNT = 4
JOIN_TIMEOUT = 30.0
"""Seconds a join (C0), a scan or a DNS query may take."""

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


class Module:
    """An eS-WiFi module driven from asyncio. Create it with :meth:`open`."""

    def __init__(self, channel: AioChannel) -> None:
        self.channel = channel
        self.sequence_lock = asyncio.Lock()
        """Held by a socket across one select-and-act sequence of commands."""
        self._registers: list[dict[str, str]] = [{} for _ in range(SOCKET_COUNT)]
        self._selected: int | None = None
        self._slots: list[object | None] = [None] * SOCKET_COUNT
        self._read_code = "R4"
        channel.add_resync_listener(self._invalidate)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        link: Literal["uart", "spi"] = "uart",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Module:
        """Open ``socket://HOST:PORT`` or a serial device and check the module answers.

        Raises:
            LinkError: the link cannot be opened, or the module does not answer.
        """
        if link not in ("uart", "spi"):
            raise ValueError(f"link must be 'uart' or 'spi', not {link!r}")
        channel = AioChannel(await open_link(url), spi=link == "spi", timeout=timeout)
        module = cls(channel)
        try:
            await module.channel.transact_line("")  # an empty line: the bare prompt
        except BaseException:
            await channel.aclose()
            raise
        return module

    async def aclose(self) -> None:
        """Close every socket this client opened, then the link."""
        for owner in list(self._slots):
            if isinstance(owner, streams.Closable):
                await owner.aclose()
        await self.channel.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ commands

    async def command(
        self,
        line: str | bytes,
        *,
        payload: bytes | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Reply:
        """Send one command line as typed (``"P?"``, ``"S3=5"`` with ``payload=b"hello"``).

        Raises:
            CommandError: the module answered ERROR (only with ``check=True``).
        """
        async with self.sequence_lock:
            if not answers.is_query(line):
                self._invalidate()
            reply = await self.channel.transact_line(line, payload=payload, timeout=timeout)
        if check and not reply.ok:
            raise command_error(reply)
        return reply

    async def run(self, code: str, *args: object, check: bool = True, **kwargs: object) -> Reply:
        """One command by code and arguments (the caller holds :attr:`sequence_lock`)."""
        reply = await self.channel.transact(code, *args, **kwargs)  # type: ignore[arg-type]
        if check and not reply.ok:
            raise command_error(reply)
        return reply

    def messages(self) -> list[AsyncMessage]:
        """Async messages received and not taken yet (on SPI, after an ``MR`` poll)."""
        return self.channel.take_messages()

    async def poll_messages(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an async message: UART pushes them; on SPI
        one ``MR`` asks for the next queued one. True when one is waiting."""
        if self.channel.spi:
            async with self.sequence_lock:
                await self.channel.transact("MR")
        return await self.channel.wait_message(0 if self.channel.spi else timeout)

    # ------------------------------------------------------------------ queries

    async def info(self) -> ModuleInfo:
        """Product and firmware information (``I?``)."""
        value = (await self._query("I?")).value
        if not answers.INFO_LINE.fullmatch(value):
            raise RemoteProtocolError(f"I? answered {value[:80]!r}, not an I? line")
        return answers.module_info(value)

    async def mac(self) -> str:
        """The MAC address (``Z5``)."""
        return (await self._query("Z5")).value.strip()

    async def is_joined(self) -> bool:
        """Whether the module is joined to a network (``CS``)."""
        return (await self._query("CS")).value.strip() == "1"

    async def scan(self) -> list[AccessPoint]:
        """The access points in range (``F0``)."""
        return answers.access_points((await self._query("F0", timeout=JOIN_TIMEOUT)).lines)

    async def join(
        self,
        ssid: str,
        passphrase: str = "",
        security: Security | int | None = None,
        *,
        timeout: float = JOIN_TIMEOUT,
    ) -> str:
        """Join a network (or stay on it, when already joined to it); returns the IP."""
        for name, text in (("ssid", ssid), ("passphrase", passphrase)):
            if "," in text or "\r" in text or "\n" in text:
                raise ValueError(f"the module cannot take a {name} with a comma or line break")
        if security is None:
            security = Security.WPA2 if passphrase else Security.OPEN
        async with self.sequence_lock:
            fields = (await self.run("C?")).value.split(",")
            if len(fields) >= 15:
                # ssid (may hold commas), passphrase, then 13 fixed fields (C? reference)
                joined, ip = fields[-1].strip() == "1", fields[-10]
                if joined and ",".join(fields[: len(fields) - 14]) == ssid:
                    return ip
            await self.run("C1", ssid)
            if passphrase:
                await self.run("C2", passphrase)
            await self.run("C3", int(security))
            reply = await self.run("C0", timeout=timeout)
        address = answers.joined_address(reply.lines)
        if address is not None:
            return address
        raise RemoteProtocolError(f"C0 answered no [JOIN] line: {reply.raw[:80]!r}")

    async def leave(self) -> None:
        """Leave the network (``CD``); every open connection is lost."""
        async with self.sequence_lock:
            await self.run("CD")

    async def resolve(self, name: str) -> str:
        """Resolve a host name through the module's DNS (``D0``); IPv4 literals pass."""
        if answers.is_ipv4(name):
            return str(ipaddress.IPv4Address(name))
        if not name or "," in name or len(name) > 64:
            raise NameResolutionError(_socket.EAI_NONAME, "Name or service not known")
        async with self.sequence_lock:
            reply = await self.run("D0", name, check=False, timeout=JOIN_TIMEOUT)
            if self._selected is not None:
                self._registers[self._selected].pop("P3", None)
        address = reply.value.strip()
        if not reply.ok or not answers.is_ipv4(address):
            raise NameResolutionError(_socket.EAI_NONAME, "Name or service not known")
        return address

    async def ping(self, host: str, count: int = 1) -> list[float | None]:
        """Ping from the module; one round-trip time in seconds per echo (None: lost)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        address = await self.resolve(host)
        async with self.sequence_lock:
            await self.run("T1", address)
            await self.run("T2", count)
            reply = await self.run("T0", timeout=JOIN_TIMEOUT + count * 5)
        return answers.ping_times(reply.lines)

    async def reset(self, *, timeout: float = 10.0) -> None:
        """Reset the module (``ZR``) and wait until it is back; every socket is gone."""
        async with self.sequence_lock:
            await self.run("ZR", timeout=timeout)
            self._invalidate()
        for owner in list(self._slots):
            if isinstance(owner, streams.Closable):
                owner.lost()

    # ------------------------------------------------------------------ streams

    async def open_connection(
        self, host: str, port: int, *, limit: int = 2**16, timeout: float = JOIN_TIMEOUT
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect a module socket to ``(host, port)``; asyncio's reader and writer for it.

        Raises:
            ConnectionRefusedError: the module could not connect.
            SocketError: all four module sockets are in use (``EMFILE``).
        """
        ip = await self.resolve(host)
        return await streams.open_connection(self, ip, port, limit=limit, timeout=timeout)

    async def start_server(
        self,
        client_connected_cb: ClientConnected,
        port: int,
        *,
        backlog: int = 1,
        limit: int = 2**16,
    ) -> streams.Server:
        """Start the module's multi-accept server on ``port``; ``client_connected_cb(reader,
        writer)`` runs for each client, one at a time (the module serves one client per
        server: the next is accepted once the previous connection is closed)."""
        return await streams.start_server(self, client_connected_cb, port, backlog, limit)

    async def open_datagram(self, host: str, port: int) -> streams.DatagramEndpoint:
        """A UDP socket of the module sending to ``(host, port)`` (``P1=1``, ``P6=1``)."""
        ip = await self.resolve(host)
        return await streams.open_datagram(self, ip, port)

    # ------------------------------------------------------------------ for streams

    def take_slot(self, owner: object) -> int:
        for slot, current in enumerate(self._slots):
            if current is None:
                self._slots[slot] = owner
                return slot
        raise SocketError(24, "Too many open files (the module has four sockets)")

    def release_slot(self, slot: int) -> None:
        self._slots[slot] = None

    async def select(self, slot: int) -> None:
        if self._selected != slot:
            await self.run("P0", slot)
            self._selected = slot

    async def set(self, slot: int, code: str, value: object) -> None:
        text = str(value)
        if self._registers[slot].get(code) == text:
            return
        await self.select(slot)
        await self.run(code, value)
        self._registers[slot][code] = text

    async def read_once(self, slot: int, wait_ms: int) -> tuple[bytes, bool]:
        """One ``R4`` (or ``R0``) on ``slot``: (data, the connection is gone)."""
        async with self.sequence_lock:
            await self.set(slot, "R1", MAX_READ)
            await self.set(slot, "R2", wait_ms)
            await self.select(slot)
            timeout = wait_ms / 1000 + 5.0
            reply = await self.run(self._read_code, check=False, timeout=timeout)
            if self._read_code == "R4" and not reply.ok and "unknown" in reply.message.lower():
                self._read_code = "R0"
                reply = await self.run("R0", check=False, timeout=timeout)
        if not reply.ok:
            if reply.minus_one or not reply.body.strip():
                return b"", True
            raise command_error(reply)
        return reply.body, False

    async def send_once(self, slot: int, chunk: bytes) -> int:
        """One ``S3`` on ``slot``: the bytes the module took, or -1 (connection gone)."""
        async with self.sequence_lock:
            await self.select(slot)
            reply = await self.run("S3", len(chunk), payload=chunk, check=False)
        value = reply.value.strip()
        if reply.ok and value.isdigit() and int(value) <= len(chunk):
            return int(value)
        if reply.minus_one or not reply.ok:
            return -1
        raise RemoteProtocolError(f"S3={len(chunk)} answered {reply.raw[:80]!r}")

    def _invalidate(self) -> None:
        for registers in self._registers:
            registers.clear()
        self._selected = None

    async def _query(self, code: str, *, timeout: float | None = None) -> Reply:
        async with self.sequence_lock:
            return await self.run(code, timeout=timeout)
