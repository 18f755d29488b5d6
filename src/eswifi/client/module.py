"""The module-level API: open a link, join a network, query the module, make sockets.

:class:`Module` owns one :class:`~eswifi.client.link.CommandChannel` (and so the command
lock), the table of the module's four sockets and a cache of the per-socket registers it
set (``P0``, ``R1``, ``R2``, ``P2``…), so that repeated operations do not resend values
the module already has. Socket objects (:mod:`eswifi.client.socket`) run their command
sequences through it.

Any failure that leaves the module's state unknown (a timeout, a malformed reply, a raw
:meth:`Module.command`) drops the cache, so the next operation sets everything again; a
link resync (which changes R1/R2) drops it too, before any cached value is relied on.

Sockets read with ``R4`` (the byte count comes first, so binary data holding the reply
terminator is read exactly); a firmware that answers ``Unknown Command`` to it is read
with ``R0`` from then on.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import re
import socket as _socket
from collections.abc import Sequence
from types import TracebackType
from typing import Literal, Self

from eswifi.client import answers, pins
from eswifi.client.answers import AccessPoint, ModuleInfo, NetworkStatus, Security
from eswifi.client.diagnose import RecordingLink, first_reply_failure
from eswifi.client.link import CommandChannel, Link, SerialLink, Trace
from eswifi.client.socket import MAX_PAYLOAD, EsWifiSocket
from eswifi.errors import (
    LinkError,
    LinkTimeout,
    NameResolutionError,
    RemoteProtocolError,
    SocketError,
)
from eswifi.wire.replies import MAX_READ, AsyncMessage, Reply

SOCKET_COUNT = 4
"""The module has four sockets, P0=0..3."""
JOIN_TIMEOUT = 30.0
"""Seconds a join (C0) may take."""
DYNAMIC_PORTS = (49152, 65535)
"""Where ``bind(("", 0))`` and client sockets take their local port from."""
DRAIN_POLLS = 16
"""Bound on the ``MR`` polls that drain an SPI module's stale messages."""

_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


class Module:
    """An eS-WiFi module behind a host link.

    Args:
        link: the byte link (see :meth:`open` for pyserial URLs).
        spi: the module is an SPI build (replies padded with 0x15, messages via ``MR``);
            by default, the link's own ``spi`` attribute if it has one, else ``False``.
        timeout: default seconds to wait for a reply to a command.
        trace: optional hook called with ``("tx"|"rx", bytes)`` for every transfer.
        poll_interval: seconds between ``MR`` polls on an SPI link while waiting.
    """

    def __init__(
        self,
        link: Link,
        *,
        spi: bool | None = None,
        timeout: float = 10.0,
        trace: Trace | None = None,
        poll_interval: float = 0.02,
        control: str | tuple[str, int] | None = None,
    ) -> None:
        if spi is None:
            spi = bool(getattr(link, "spi", False))
        self.channel = CommandChannel(link, spi=spi, timeout=timeout, trace=trace)
        self.poll_interval = poll_interval
        self.control = pins.parse_address(control) if control is not None else None
        """The emulator's control channel (``eswifi emulate --control``): the RESET pin."""
        self._lock = self.channel.lock
        self._sockets: list[EsWifiSocket | None] = [None] * SOCKET_COUNT
        self._selected: int | None = None
        self._registers: list[dict[str, tuple[object, ...]]] = [{} for _ in range(SOCKET_COUNT)]
        self._ip: str | None = None
        self._random = random.Random()
        self._read_code = "R4"
        self.channel.add_resync_listener(self._invalidate)

    @classmethod
    def open(
        cls,
        url: str,
        link: Literal["uart", "spi"] = "uart",
        *,
        baudrate: int = 115_200,
        timeout: float = 10.0,
        trace: Trace | None = None,
        control: str | tuple[str, int] | None = None,
        fresh: bool = True,
    ) -> Module:
        """Open a module at a pyserial URL or device path and check that it answers.

        The module keeps its state between host programs, as the real one does; with
        ``fresh`` (the default) :meth:`start_fresh` closes whatever sockets an earlier
        program left open. ``fresh=False`` leaves the module exactly as it is (``eswifi
        send`` and ``eswifi term`` open it that way).

        Args:
            url: ``/dev/ttyUSB0``, ``/dev/pts/7``, ``socket://127.0.0.1:7000``, ``loop://``,
                ``spy://…`` — anything ``serial.serial_for_url`` takes.
            link: ``"uart"`` or ``"spi"``: which module build is on the other end.
            control: the emulator's control channel ``HOST:PORT``; :meth:`reset` with
                ``hard=True`` then pulses the RESET pin through it.

        Raises:
            ValueError: ``link`` is neither ``"uart"`` nor ``"spi"``.
            LinkRefused: nothing listens at a ``socket://`` address.
            ConsoleBusy: the emulator's console already serves another host.
            LinkError: the port cannot be opened, or closed before the module answered.
            LinkTimeout, RemoteProtocolError: the module did not answer its first command.
        """
        if link not in ("uart", "spi"):
            raise ValueError(f"link must be 'uart' or 'spi', not {link!r}")
        serial_link = SerialLink.open(url, baudrate=baudrate)
        module = cls(serial_link, spi=link == "spi", timeout=timeout, trace=trace, control=control)
        try:
            module._attach(url)
            if fresh:
                module.start_fresh()
        except BaseException:
            module.close()
            raise
        return module

    def _attach(self, url: str) -> None:
        """Drop stale input and ask ``CS``, keeping what arrives first to explain a failure;
        a module that does not answer is brought back to a reply boundary once."""
        recorder = RecordingLink(self.channel.link)
        self.channel.link = recorder
        try:
            recorder.discard_input()
            self.channel.protocol.reset()
            try:
                self._run("CS")
            except LinkTimeout:
                self._unstick()
                self._run("CS")
        except (LinkError, RemoteProtocolError) as exc:
            better = first_reply_failure(url, recorder.seen, exc)
            if better is None:
                raise
            raise better from exc
        finally:
            self.channel.link = recorder.link

    def _unstick(self) -> None:
        """Bring back a module that did not answer, e.g. one an earlier program left
        halfway through an ``S3`` payload: pulse its RESET pin when there is a control
        channel; else (UART) complete any payload with CRs, each extra CR being an empty
        command that only prints a prompt, and resynchronise the link."""
        if self.control is not None:
            self.reset(hard=True, timeout=self.channel.timeout)
            return
        if not self.channel.spi:
            filler = b"\r" * MAX_PAYLOAD
            if self.channel.trace is not None:
                self.channel.trace("tx", filler)
            self.channel.link.write(filler)
        self.channel.resync()

    # ------------------------------------------------------------------ lifecycle

    def start_fresh(self) -> None:
        """Close every module socket and stop every server, whoever opened them.

        Sends ``P0=n``, ``P6=0`` (client connection) and ``P5=0`` (server) for each of the
        four module sockets, then drops the async messages received so far (on SPI after
        fetching them with ``MR``). The network stays joined: :meth:`join` to the same
        network returns at once; :meth:`reset` also forgets it. Socket objects of this
        module are closed as by a reset. :meth:`open` calls this unless ``fresh=False``.

        Raises:
            LinkTimeout, LinkError, RemoteProtocolError: the module did not answer.
        """
        with self._lock:
            self._lose_sockets()
            self._invalidate()
            for slot in range(SOCKET_COUNT):
                self._select(slot)
                self._run("P6", 0, check=False)
                self._run("P5", 0, check=False)
            if self.channel.spi:
                for _ in range(DRAIN_POLLS):
                    before = self.channel.message_count
                    self._run("MR", check=False)
                    if self.channel.message_count == before:
                        break
            self.channel.take_messages()

    def close(self) -> None:
        """Close every socket (best effort) and the link."""
        if self.channel.closed:
            return
        for sock in list(self._sockets):
            if sock is not None:
                sock.close()
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ raw access

    def command(
        self,
        line: str | bytes,
        *,
        payload: bytes | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Reply:
        """Send one command line as typed (``"P?"``, ``"S3=5"`` with ``payload=b"hello"``).

        The module's register cache is dropped, since the command may change anything;
        queries that only show settings (``P?``, ``C?``, ``CS`` …) keep it.

        Raises:
            CommandError: the module answered ERROR (only with ``check=True``).
            LinkTimeout, LinkError, RemoteProtocolError: see :meth:`CommandChannel.transact`.
        """
        with self._lock:
            if not answers.is_query(line):
                self._invalidate()
            reply = self.channel.transact_line(line, payload=payload, timeout=timeout)
            if check and not reply.ok:
                raise answers.command_error(reply)
            return reply

    def messages(self, timeout: float = 0.0) -> list[AsyncMessage]:
        """Async messages received so far, after waiting up to ``timeout`` for one.

        On an SPI link this polls ``MR`` first.
        """
        if self.channel.spi:
            self._run("MR")
        self.channel.wait_messages(timeout)
        return self.channel.take_messages()

    # ------------------------------------------------------------------ information

    def info(self) -> ModuleInfo:
        """Product and firmware information (``I?``).

        Raises:
            RemoteProtocolError: the reply is not an ``I?`` line (the link resyncs).
        """
        return answers.module_info(self._expect("I?", answers.INFO_LINE).value)

    def mac(self) -> str:
        """The MAC address, ``XX:XX:XX:XX:XX:XX`` (``Z5``).

        Raises:
            RemoteProtocolError: the reply is not a MAC address (the link resyncs).
        """
        return self._expect("Z5", _MAC).value.strip()

    def status(self) -> NetworkStatus:
        """The network settings and whether the module is joined (``C?``)."""
        fields = self._run("C?").value.split(",")
        if len(fields) < 15:
            raise RemoteProtocolError(f"C? answered {len(fields)} fields, expected 15")
        # SSID and passphrase may contain commas only in theory (C1/C2 split on them).
        tail = fields[-13:]
        return NetworkStatus(
            ssid=",".join(fields[: len(fields) - 14]),
            passphrase=fields[-14],
            security=_int(tail[0]),
            dhcp=tail[1] == "1",
            ip=tail[3],
            mask=tail[4],
            gateway=tail[5],
            dns1=tail[6],
            dns2=tail[7],
            country=tail[11],
            connected=tail[12].strip() == "1",
        )

    def rssi(self) -> int:
        """Signal strength of the joined access point in dBm, 0 when not joined (``CR``)."""
        return _int(self._run("CR").value)

    def is_joined(self) -> bool:
        """Whether the module is joined to a network (``CS``)."""
        return self._run("CS").value.strip() == "1"

    def scan(self) -> list[AccessPoint]:
        """The access points in range (``F0``)."""
        return answers.access_points(self._run("F0", timeout=JOIN_TIMEOUT).lines)

    # ------------------------------------------------------------------ network

    def join(
        self,
        ssid: str,
        passphrase: str = "",
        security: Security | int | None = None,
        *,
        timeout: float = JOIN_TIMEOUT,
    ) -> str:
        """Join a network; returns the module's IP address.

        ``security`` defaults to WPA2 with a passphrase and open without one. When the
        module is already joined to this network with these settings (``C?``), nothing is
        sent and its address is returned; joined to another one, it leaves it first.

        Raises:
            ValueError: the SSID or passphrase contains a comma (the module splits on it).
            CommandError: the join failed (wrong passphrase, unknown network …).
        """
        for name, text in (("ssid", ssid), ("passphrase", passphrase)):
            if "," in text or "\r" in text or "\n" in text:
                raise ValueError(f"the module cannot take a {name} with a comma or line break")
        if security is None:
            security = Security.WPA2 if passphrase else Security.OPEN
        with self._lock:
            current = self.status()
            if current.connected:
                same = current.ssid == ssid and current.security == int(security)
                if same and (security == Security.OPEN or current.passphrase == passphrase):
                    self._ip = current.ip
                    return current.ip
                self.leave()
            self._run("C1", ssid)
            if passphrase:
                self._run("C2", passphrase)
            self._run("C3", int(security))
            self._run("C4", 1)
            reply = self._run("C0", timeout=timeout)
            # "[JOIN   ] <ssid>,<ip>,0,0" (docs/protocol.md §3.1)
            self._ip = answers.joined_address(reply.lines)
            return self.ip()

    def leave(self) -> None:
        """Leave the network (``CD``); every open connection is lost."""
        with self._lock:
            self._run("CD")
            self._ip = None
            for sock in self._sockets:
                if sock is not None:
                    sock._network_lost()

    def ip(self) -> str:
        """The module's IP address (``0.0.0.0`` when not joined)."""
        with self._lock:
            if self._ip is None:
                self._ip = self.status().ip
            return self._ip

    def resolve(self, name: str) -> str:
        """Resolve a host name through the module's DNS (``D0``); IPv4 literals pass through.

        Raises:
            NameResolutionError: the module could not resolve the name (also a
                ``socket.gaierror``).
        """
        if answers.is_ipv4(name):
            return str(ipaddress.IPv4Address(name))
        if not name or "," in name or len(name) > 64:
            raise NameResolutionError(_socket.EAI_NONAME, "Name or service not known")
        with self._lock:
            reply = self._run("D0", name, check=False, timeout=JOIN_TIMEOUT)
            # D0 also writes P3 of the selected socket.
            if self._selected is not None:
                self._registers[self._selected].pop("P3", None)
        address = reply.value.strip()
        if not reply.ok or not answers.is_ipv4(address):
            raise NameResolutionError(_socket.EAI_NONAME, "Name or service not known")
        return address

    def ping(
        self, host: str, count: int = 1, *, interval: float | None = None
    ) -> list[float | None]:
        """Ping a host from the module (``T1``/``T2``/``T3``/``T0``).

        Returns one round-trip time in seconds per echo, None where it timed out.

        Raises:
            NameResolutionError: ``host`` cannot be resolved.
            CommandError: the module refused the ping.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        address = self.resolve(host)
        with self._lock:
            self._run("T1", address)
            self._run("T2", count)
            if interval is not None:
                self._run("T3", max(1, round(interval * 1000)))
            reply = self._run("T0", timeout=JOIN_TIMEOUT + count * 5)
        return answers.ping_times(reply.lines)

    def reset(self, *, hard: bool = False, timeout: float = 10.0) -> None:
        """Reset the module and wait until it is back (its boot prompt or greeting).

        ``hard=True`` with a control channel (see :meth:`open`) pulses the RESET pin;
        otherwise the module resets itself with ``ZR``. Every socket is gone afterwards;
        the module also forgets its network.
        """
        with self._lock:
            if hard and self.control is not None:
                pins.control_command(self.control, "reset hold", timeout)
                self.channel.discard()  # the module is dead now: nothing more will come
                pins.control_command(self.control, "reset release", timeout)
                pins.wait_for_boot(self.channel.link, timeout)
            else:
                self._run("ZR", timeout=timeout)
            self._invalidate()
            self._ip = None
            self._lose_sockets()

    # ------------------------------------------------------------------ sockets

    def socket(
        self,
        family: int = _socket.AF_INET,
        type: int = _socket.SOCK_STREAM,
        proto: int = 0,
    ) -> EsWifiSocket:
        """A new socket on one of the module's four, like ``socket.socket()``.

        Raises:
            SocketError: ``EMFILE`` when all four module sockets are in use;
                ``EAFNOSUPPORT``/``EPROTONOSUPPORT`` for anything but IPv4 TCP or UDP.
        """
        if family != _socket.AF_INET:
            raise SocketError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        if type not in (_socket.SOCK_STREAM, _socket.SOCK_DGRAM):
            raise SocketError(errno.EPROTONOSUPPORT, "Protocol not supported")
        with self._lock:
            for slot, taken in enumerate(self._sockets):
                if taken is None:
                    sock = EsWifiSocket(self, slot, family=family, type=type, proto=proto)
                    self._sockets[slot] = sock
                    self._registers[slot].clear()
                    return sock
        raise SocketError(errno.EMFILE, "Too many open files (the module has 4 sockets)")

    def sockets(self) -> Sequence[EsWifiSocket | None]:
        """The socket objects by module socket number (None: free)."""
        return tuple(self._sockets)

    # ------------------------------------------------------------------ for sockets

    def _run(
        self,
        code: str,
        *args: object,
        payload: bytes | None = None,
        timeout: float | None = None,
        read_limit: int = MAX_READ,
        check: bool = True,
    ) -> Reply:
        """One command; the cache is dropped if its outcome is unknown."""
        try:
            reply = self.channel.transact(
                code, *args, payload=payload, timeout=timeout, read_limit=read_limit
            )
        except (LinkError, RemoteProtocolError):
            self._invalidate()
            raise
        if check and not reply.ok:
            raise answers.command_error(reply)
        return reply

    def _sync(self) -> None:
        """Resynchronise a link that is out of step before trusting the register cache."""
        if self.channel.out_of_step:
            self.channel.resync()

    def _expect(self, code: str, shape: re.Pattern[str]) -> Reply:
        """Run a query whose answer has a known shape; anything else is another command's
        reply or garbage, so the link is resynced before the next command."""
        reply = self._run(code)
        if shape.fullmatch(reply.value.strip()) is None:
            self.channel.lose_step()
            raise RemoteProtocolError(f"{code} answered {reply.raw[:80]!r}")
        return reply

    def _select(self, slot: int) -> None:
        self._sync()
        if self._selected != slot:
            self._selected = None
            self._run("P0", slot)
            self._selected = slot

    def _set(self, slot: int, code: str, *args: object) -> None:
        """Set a per-socket register unless the module already has that value."""
        self._sync()
        if self._registers[slot].get(code) == args:
            return
        self._select(slot)
        self._registers[slot].pop(code, None)
        self._run(code, *args)
        self._registers[slot][code] = args

    def _forget(self, slot: int, *codes: str) -> None:
        for code in codes:
            self._registers[slot].pop(code, None)

    def _lose_sockets(self) -> None:
        """Every socket object learns that its module socket is gone."""
        for sock in list(self._sockets):
            if sock is not None:
                sock._network_lost()

    def _invalidate(self) -> None:
        self._selected = None
        for registers in self._registers:
            registers.clear()

    def _release(self, sock: EsWifiSocket) -> None:
        with self._lock:
            if self._sockets[sock.slot] is sock:
                self._sockets[sock.slot] = None

    def _pick_port(self) -> int:
        taken = {s._local_port for s in self._sockets if s is not None}
        for _ in range(64):
            port = self._random.randint(*DYNAMIC_PORTS)
            if port not in taken:
                return port
        raise SocketError(errno.EADDRINUSE, "no free local port")  # pragma: no cover

    def _idle(self, timeout: float) -> None:
        """Wait up to ``timeout`` for something to happen (an async message on UART; one
        ``MR`` poll and a short pause on SPI)."""
        if self.channel.spi:
            before = self.channel.message_count
            self._run("MR")
            if self.channel.message_count != before:
                return
            self.channel.wait_messages(min(timeout, self.poll_interval))
        else:
            self.channel.wait_messages(timeout)


def _int(text: str) -> int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        raise RemoteProtocolError(f"expected a number, got {text!r}") from None
