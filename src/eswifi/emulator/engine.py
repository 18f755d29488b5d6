"""The sans-I/O module engine: a virtual eS-WiFi module with no clock, socket or file.

Theory of operation
-------------------
The engine is fed three kinds of input, each with the current time ``now`` (seconds from
any monotonic clock the caller owns):

* :meth:`ModuleEngine.receive_host` — bytes from the host link;
* :meth:`ModuleEngine.receive_net` — facts from the network backend
  (:mod:`eswifi.emulator.messages`);
* :meth:`ModuleEngine.handle_timer` — called once :meth:`next_deadline` has passed.

It answers through one ordered queue, :meth:`drain_effects`: bytes for the host
(:class:`HostWrite`) interleaved with requests for the network (Listen, Send …). Ordering
is meaningful: a reply is emitted only after the network results it depends on arrived.

Commands run one at a time, as on the module. The command processor is *idle* (reading a
command line), *reading a payload* (the raw bytes after ``S3=<n>``) or *waiting* (a
command whose answer depends on the network or on a timeout). Host bytes that arrive while
it is busy stay buffered in the reader and are processed afterwards; the outer layer keeps
that buffer bounded by not reading the link while :attr:`host_backlog` is large.

Asynchronous messages (``[TCP SVR] Accepted …``) are delivered between replies, never
inside one: pushed on the UART build, queued for ``MR`` on the SPI build.

Bad host input is normal input: it gets the module's error reply. The engine raises only
when the *caller* misuses it (:class:`~eswifi.errors.LocalProtocolError`).

The radio is input too: :meth:`ModuleEngine.set_ap_present` (and the radio's scheduled
events, run from :meth:`ModuleEngine.handle_timer`) makes an access point vanish or come
back; ``ZR`` and power-up rebuild the volatile state from the saved settings.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from eswifi.emulator import messages as m
from eswifi.emulator.faults import Faults
from eswifi.emulator.outcomes import Done, Handler, Outcome, ReadPayload, Wait, error
from eswifi.emulator.pins import Pin, Pins, Power
from eswifi.emulator.profile import UART_C6, AcceptedPort, FirmwareProfile, LinkProfile
from eswifi.emulator.radio import DEFAULT_RADIO, AccessPoint, LinkAction, Radio
from eswifi.emulator.settings import SavedSettings, StoredSettings
from eswifi.emulator.state import (
    DATAGRAM_QUEUE_DEPTH,
    RX_HIGH_WATER,
    RX_LOW_WATER,
    SOCKET_COUNT,
    UART_POWER_UP_BAUD,
    Connection,
    ConnectionKind,
    Credentials,
    Datagram,
    MessageQueue,
    PingSettings,
    ScanSettings,
    ServerMode,
    ServerState,
    SocketSlot,
    SoftApClient,
    SoftApRegisters,
    SoftApState,
    UartSettings,
    WifiRegisters,
    WifiState,
)
from eswifi.emulator.timing import FAST, Timing
from eswifi.errors import LocalProtocolError
from eswifi.wire import framing
from eswifi.wire.commands import COMMANDS, MAX_ARGUMENT_TOKENS, CommandLine, split_command_line
from eswifi.wire.framing import ErrorCode
from eswifi.wire.reader import CommandReader, ControlBytes, Line, LineTooLong, PayloadChunk

_ECHO = tuple(b"[%02X]" % byte for byte in range(256))
"""How the module echoes each control byte on the command line."""
SAVE_TIMEOUT = 1.0
"""Seconds a save waits for the outer layer's answer before it counts as done."""
_ABANDON_STEPS = 100
"""Timeout steps after which an abandoned multi-step command is simply dropped."""


class ModuleEngine:
    """A virtual eS-WiFi module, sans I/O.

    Args:
        profile: the firmware build to behave like.
        radio: the access points in range and the module's identity.
        host_address: the host address module sockets bind to; also the IP the module
            reports once joined.
        handlers: command handlers by wire code (default: every built-in family).
        stored_settings: what ``Z1`` saved in an earlier run (``--state FILE``).
        started_at: the ``now`` the radio's scheduled events count from.
        timing: how long the firmware's operations take (boot, ``ZR``, ``P5=0`` …).
        uart_baud: the UART rate at power-up (``--baud``); ``U0`` changes it until a reset.
        faults: the injected faults (default: none, seed 0).
    """

    _wait: Wait | None
    """The command waiting for a network event or its deadline (set by :meth:`_power_on`)."""

    def __init__(
        self,
        *,
        profile: FirmwareProfile = UART_C6,
        radio: Radio = DEFAULT_RADIO,
        host_address: str = "127.0.0.1",
        handlers: Mapping[str, Handler] | None = None,
        stored_settings: StoredSettings | None = None,
        started_at: float = 0.0,
        timing: Timing = FAST,
        uart_baud: int = UART_POWER_UP_BAUD,
        faults: Faults | None = None,
    ) -> None:
        if handlers is None:
            from eswifi.emulator.handlers import ALL_HANDLERS

            handlers = ALL_HANDLERS
        self.profile = profile
        self.radio = radio
        self.host_address = host_address
        self.now = started_at
        self.started_at = started_at
        self.timing = timing
        self.uart_baud = uart_baud
        self.factory_settings = SavedSettings(
            wifi=WifiRegisters(country=profile.default_country),
            access_point=SoftApRegisters(),
            mac=radio.mac,
            product_name=radio.name if radio.name is not None else profile.product_name,
        )
        self.stored_settings = stored_settings if stored_settings is not None else StoredSettings()
        self._radio_events = deque(
            (started_at + e.at, e) for e in sorted(radio.events, key=lambda e: e.at)
        )
        self.credentials = Credentials()
        """Certificates and keys uploaded with PG: module memory, kept across ZR."""
        self._handlers = dict(handlers)
        ignored = b"\n\x00\x15" if profile.link is LinkProfile.SPI else b"\n\x00"
        self._reader = CommandReader(ignored=ignored)
        self._effects: list[m.Effect] = []
        self._ids = itertools.count(1)
        self.pins = Pins(self.emit, drives_ready=profile.link is LinkProfile.SPI)
        """RESET, WAKEUP and DATA-READY (:mod:`eswifi.emulator.pins`)."""
        self.faults = faults if faults is not None else Faults()
        """Faults switched on for this module (:mod:`eswifi.emulator.faults`)."""
        self._hung_tail = b""
        self._power_on()

    # ------------------------------------------------------------------ public API

    def receive_host(self, data: bytes, *, now: float) -> None:
        """Take bytes from the host link (discarded and counted while held in reset or
        booting)."""
        self.now = now
        if not self.pins.running:
            self.pins.discarded += len(data)
            return
        if self.hung:
            self._hung_input(data)
            return
        self._reader.feed(data)
        self._run()

    def receive_net(self, event: m.NetEvent, *, now: float) -> None:
        """Take a fact from the network backend."""
        self.now = now
        self._apply(event)
        self._repoll(event)
        if isinstance(event, m.Connected) and event.conn not in self._conn_slots:
            # Nobody waits for it any more (a reset or a new host ended the command).
            self.emit(m.CloseConnection(conn=event.conn, abort=True))
        self._run()

    def handle_timer(self, *, now: float) -> None:
        """Run whatever was due at or before ``now``."""
        self.now = now
        if _due(self.pins.boot_at, now):
            self._reboot()
        while self._radio_events and self._radio_events[0][0] <= now:
            _, event = self._radio_events.popleft()
            self.set_ap_present(event.ssid, event.action is LinkAction.APPEAR, now=now)
        if self._payload is not None and _due(self._payload_deadline, now):
            self._end_payload(complete=False)
        if self._wait is not None and _due(self._wait.deadline, now):
            wait, self._wait = self._wait, None
            self._settle(wait.on_timeout())
        self._run()

    def set_ap_present(self, ssid: str, present: bool, *, now: float) -> bool:
        """An access point vanishes or comes back (link events; False: no such SSID).

        The module loses its link when its access point vanishes: ``[INFO   ] Link Down``,
        every connection answers ``-1``. It re-associates when the access point returns:
        ``[INFO   ] Link Up``.
        """
        self.now = now
        if not self.radio.knows(ssid):
            return False
        self.radio = self.radio.with_access_point(ssid, present=present)
        wifi = self.wifi
        if not present and wifi.joined_ssid == ssid:
            wifi.joined_ssid = None
            wifi.rejoin_ssid = ssid
            self.lose_connections()
            self._announce_link(b"[INFO   ] Link Down")
        elif present and wifi.rejoin_ssid == ssid:
            ap = self.radio.find(ssid)
            regs = wifi.registers
            if ap is not None and ap.admits(regs.security, regs.passphrase):
                self.associate(ap)
                self._announce_link(b"[INFO   ] Link Up")
        self._repoll()
        self._run()
        return True

    def set_ap_rssi(self, ssid: str, rssi: int, *, now: float) -> bool:
        """Change what an access point's signal reads (False: no such SSID)."""
        self.now = now
        if not self.radio.knows(ssid):
            return False
        self.radio = self.radio.with_access_point(ssid, rssi=rssi)
        return True

    def station_join(self, mac: str, *, rssi: int = -40, now: float) -> bool:
        """A client joins the soft AP: ``[AP DHCP] Assigned <mac> has <ip>``.

        Returns False when no soft AP runs or it is full.
        """
        self.now = now
        ap = self.soft_ap
        if not self.wifi.ap_active or len(ap.clients) >= ap.registers.max_clients:
            return False
        own = ipaddress.IPv4Address(self.soft_ap_ip())
        network = ipaddress.IPv4Network(f"{own}/24", strict=False)
        taken = {own, *(ipaddress.IPv4Address(c.ip) for c in ap.clients)}
        hosts = list(network.hosts())
        ip = str(next(h for h in hosts[99:] + hosts if h not in taken))
        ap.clients.append(SoftApClient(mac=mac, ip=ip, rssi=rssi))
        self.announce(f"[AP DHCP] Assigned {mac} has {ip}".encode())
        self._run()
        return True

    def hang(self, *, now: float) -> None:
        """The firmware stops answering: host bytes are ignored and nothing is written
        until a reset (``ZR`` on the link, or power-on)."""
        self.now = now
        self.hung = True
        self._hung_tail = b""

    def _hung_input(self, data: bytes) -> None:
        *lines, tail = (self._hung_tail + data).split(b"\r")
        self._hung_tail = tail[-8:]
        if any(line.strip(b"\n\x00") == b"ZR" for line in lines):
            self.schedule_reset()

    def host_attached(self, *, now: float) -> None:
        """A host (re)attached to the link; greet on SPI (once booted: a module held in
        reset or booting greets when it boots).

        Nothing of the previous host carries over: its unread bytes and half-typed line are
        dropped, and a command it left half-done (a payload being read, a reply being
        waited for) ends as at its timeout, answering nothing.
        """
        self.now = now
        self._reader.reset()
        self._abandon_command()
        if self.profile.link is LinkProfile.SPI and self.pins.running and not self.hung:
            self._effects.append(m.HostWrite(data=framing.SPI_GREETING))

    # ------------------------------------------------------------------ pins

    def hold_reset(self, *, now: float) -> bool:
        """RESET low: the module dies at once (False: it already was held).

        Its sockets close (peers see the close), it leaves the network, the command in
        progress is abandoned and host bytes are discarded until it has booted again.
        """
        self.now = now
        if not self.pins.hold(now):
            return False
        self.leave_network()
        self._restart()
        self.wifi = WifiState()  # dead: not associated, whatever the saved settings say
        return True

    def release_reset(self, *, now: float) -> bool:
        """RESET high: boot after the profile's boot time (False: it was not held)."""
        self.now = now
        if self.pins.power is not Power.HELD:
            return False
        self.pins.boot(now, self.timing.boot_ms / 1000)
        self.handle_timer(now=now)
        return True

    def pulse_reset(self, *, now: float) -> None:
        """RESET low then high: the module reboots from its saved settings."""
        self.hold_reset(now=now)
        self.release_reset(now=now)

    def set_wakeup(self, level: int, *, now: float) -> bool:
        """Drive WAKEUP (recorded only: no low-power state to wake from). False: no edge."""
        self.now = now
        return self.pins.set(Pin.WAKEUP, 1 if level else 0, now)

    def drain_effects(self) -> list[m.Effect]:
        """Return and forget everything the engine asked for, in order."""
        effects, self._effects = self._effects, []
        return effects

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None: no timer needed)."""
        earliest = self._payload_deadline
        wait = self._wait.deadline if self._wait is not None else None
        radio = self._radio_events[0][0] if self._radio_events else None
        for deadline in (wait, self.pins.boot_at, radio):
            if deadline is not None and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest

    @property
    def host_backlog(self) -> int:
        """Host bytes received but not processed yet (the caller keeps this bounded)."""
        return self._reader.buffered

    @property
    def busy(self) -> bool:
        """A command is in progress (reading its payload or waiting)."""
        return self._command is not None

    @property
    def open_ids(self) -> tuple[frozenset[int], frozenset[int]]:
        """The connection ids and listener ids the engine holds open (the backend must
        hold exactly these once it carried out every effect)."""
        return frozenset(self._conn_slots), frozenset(self._listener_slots)

    # ------------------------------------------------------------------ for handlers

    @property
    def slot(self) -> SocketSlot:
        """The currently selected socket (P0)."""
        return self.sockets[self.current]

    def emit(self, effect: m.Effect) -> None:
        """Queue a request for the network backend."""
        self._effects.append(effect)

    def new_id(self) -> int:
        """A fresh connection or listener id."""
        return next(self._ids)

    def bind_connection(self, slot_index: int, conn: Connection) -> None:
        """Attach a live connection to a socket."""
        self._conn_slots[conn.conn] = slot_index
        self.sockets[slot_index].connection = conn

    def register_listener(self, slot_index: int, listener: int) -> None:
        self._listener_slots[listener] = slot_index

    def close_connection(self, slot_index: int, *, abort: bool = False) -> None:
        """Close the connection of a socket, if any."""
        slot = self.sockets[slot_index]
        conn = slot.connection
        if conn is None:
            return
        slot.connection = None
        if self._conn_slots.pop(conn.conn, None) is not None:
            self.emit(m.CloseConnection(conn=conn.conn, abort=abort))

    def lose_connections(self) -> None:
        """The link went down: servers stop, connections break (their R0/S3 answer -1)."""
        for slot in self.sockets:
            conn = slot.connection
            if conn is not None and self._conn_slots.pop(conn.conn, None) is not None:
                conn.lost = True
                self.emit(m.CloseConnection(conn=conn.conn, abort=True))
            if slot.server is not None:
                self._listener_slots.pop(slot.server.listener, None)
                self.emit(m.StopListening(listener=slot.server.listener))
                slot.server = None

    def stop_server(self, slot_index: int) -> None:
        """Stop a socket's server and close its accepted client."""
        slot = self.sockets[slot_index]
        self.close_connection(slot_index)
        server = slot.server
        if server is None:
            return
        slot.server = None
        self._listener_slots.pop(server.listener, None)
        self.emit(m.StopListening(listener=server.listener))

    def accept_next(self, slot_index: int) -> None:
        """Ask the backend for the next waiting client of the socket's server."""
        server = self.sockets[slot_index].server
        if server is None or server.accepting is not None:
            return
        server.accepting = self.new_id()
        self.emit(m.AcceptNext(listener=server.listener, conn=server.accepting))

    def announce(self, message: bytes, *, tcp_server: bool = False) -> None:
        """Deliver an asynchronous message (between replies, or into the MR queue).

        ``tcp_server``: a server task's message (TCP or UDP), suppressed by ``MS`` bit 1.
        """
        if tcp_server and self.message_suppression & 0b10:
            return
        if self.hung:
            return
        if self.profile.link is LinkProfile.SPI:
            self.mr_queue.push(message)
        elif self.busy:
            if len(self._pending_async) >= self.profile.mr_queue_depth:
                del self._pending_async[0]  # bounded as the MR queue: the oldest goes
            self._pending_async.append(message)
        else:
            self._effects.append(m.HostWrite(data=framing.uart_async(message)))

    def take_rx(self, conn: Connection, limit: int) -> bytes:
        """Remove up to ``limit`` received bytes from a connection's buffer."""
        data = bytes(conn.rx[:limit])
        del conn.rx[:limit]
        if conn.paused and len(conn.rx) < RX_LOW_WATER and not conn.finished:
            conn.paused = False
            self.emit(m.ResumeReading(conn=conn.conn))
        return data

    def leave_network(self) -> None:
        """The Wi-Fi link went away: every server and connection is gone."""
        for index in range(len(self.sockets)):
            self.close_connection(index, abort=True)
            self.stop_server(index)

    # ------------------------------------------------------------------ Wi-Fi and settings

    def associate(self, ap: AccessPoint) -> None:
        """Join ``ap`` and take the address its DHCP (or the static settings) gives."""
        wifi = self.wifi
        regs = wifi.registers
        wifi.joined_ssid = ap.ssid
        wifi.rejoin_ssid = None
        if not regs.dhcp:
            wifi.ip, wifi.mask, wifi.gateway = regs.static_ip, regs.static_mask, regs.static_gateway
            wifi.dns1, wifi.dns2 = regs.dns1, regs.dns2
        elif ap.dhcp is not None:
            lease = ap.dhcp
            wifi.ip, wifi.mask, wifi.gateway = lease.ip, lease.netmask, lease.gateway
            wifi.dns1, wifi.dns2 = lease.dns1, lease.dns2
        else:
            address = ipaddress.IPv4Address(self.host_address)
            prefix = 8 if address.is_loopback else 24
            network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
            gateway = next(network.hosts())
            wifi.ip, wifi.mask, wifi.gateway = str(address), str(network.netmask), str(gateway)
            wifi.dns1, wifi.dns2 = str(gateway), "0.0.0.0"

    def soft_ap_ip(self) -> str:
        """The soft AP's own address (Z6, else the host address)."""
        return self.soft_ap.registers.ip or self.host_address

    def soft_ap_ssid(self) -> str:
        """The soft AP's SSID (AS, else ``eS-WiFi_AP_<MAC>``)."""
        return self.soft_ap.registers.ssid or "eS-WiFi_AP_" + self.mac.replace(":", "")

    def live_settings(self) -> SavedSettings:
        """The settings Z1 would save now."""
        return SavedSettings(
            wifi=self.wifi.registers,
            access_point=self.soft_ap.registers,
            mac=self.mac,
            product_name=self.product_name,
        )

    def apply_settings(self, settings: SavedSettings) -> None:
        self.wifi.registers = settings.wifi
        self.soft_ap.registers = settings.access_point
        self.mac = settings.mac
        self.product_name = settings.product_name

    def store_settings(self, stored: StoredSettings, done: Done) -> Wait:
        """Ask the outer layer to persist ``stored``; ``done`` once it did, ERROR if it
        could not (the saved settings then stay as they were)."""
        request = self.new_id()
        self.emit(m.SaveSettings(snapshot=stored.to_dict(), request=request))

        def saved() -> Done:
            self.stored_settings = stored
            return done

        def poll(event: m.NetEvent | None) -> Done | None:
            match event:
                case m.SettingsSaved(request=answered) if answered == request:
                    return saved()
                case m.SettingsNotSaved(request=answered) if answered == request:
                    return error()
            return None

        return Wait(poll=poll, on_timeout=saved, deadline=self.now + SAVE_TIMEOUT)

    def schedule_reset(self) -> None:
        """``ZR``: reboot after the profile's reset time; sockets close now, the boot
        output comes later (host bytes meanwhile are discarded)."""
        self.leave_network()
        self.pins.boot(self.now, self.timing.reset_ms / 1000)

    def _reboot(self) -> None:
        """Boot done: fresh volatile state, then the boot output (docs/protocol.md §1.6, §1.7)."""
        self.pins.booted()
        self._restart()
        link = self.profile.link
        self._write(framing.SPI_GREETING if link is LinkProfile.SPI else framing.PROMPT)
        self.pins.set_ready(True, self.now)

    def _restart(self) -> None:
        """Power-up state; tell the link if its rate changes back."""
        line_baud = self.uart.line_baud
        self._power_on()
        if self.uart.line_baud != line_baud:
            self._effects.append(m.LinkRateChanged(baud=self.uart.line_baud))

    def _power_on(self) -> None:
        """Volatile state as after power-up; settings from the selected space."""
        self.sockets = [SocketSlot() for _ in range(SOCKET_COUNT)]
        self.current = 0
        self.wifi = WifiState()
        self.soft_ap = SoftApState()
        self.scan_settings = ScanSettings()
        self.ping_settings = PingSettings()
        self.uart = UartSettings(baud=self.uart_baud, line_baud=self.uart_baud)
        self.scan_results: deque[bytes] | None = None
        """Entries of an ``F0=2`` scan still to be fetched with MR."""
        self.message_type = self.profile.message_type
        self.message_suppression = 0
        self.human_mode = False
        self.mr_queue = MessageQueue(depth=self.profile.mr_queue_depth)
        self.hung = False
        """The firmware stopped answering (:meth:`hang`) until the next reset."""
        self._reader.reset()
        self._pending_async: list[bytes] = []
        self._conn_slots: dict[int, int] = {}
        self._listener_slots: dict[int, int] = {}
        self._command: CommandLine | None = None
        self._wait = None
        self._payload: ReadPayload | None = None
        self._payload_data = bytearray()
        self._payload_deadline: float | None = None
        self.apply_settings(self.stored_settings.current() or self.factory_settings)
        regs = self.wifi.registers
        ap = self.radio.find(regs.ssid) if regs.auto_connect and regs.ssid else None
        if ap is not None and ap.admits(regs.security, regs.passphrase):
            self.associate(ap)

    def _repoll(self, event: m.NetEvent | None = None) -> None:
        """Let the waiting command look at the state again (after an event or a change)."""
        if self._wait is not None:
            outcome = self._wait.poll(event)
            if outcome is not None:
                self._wait = None
                self._settle(outcome)

    def _announce_link(self, message: bytes) -> None:
        pushed = self.profile.link is LinkProfile.UART
        with_ok = pushed and self.profile.link_events_end_with_ok
        self.announce(message + (b"\r\nOK" if with_ok else b""))

    # ------------------------------------------------------------------ command loop

    def _run(self) -> None:
        while True:
            if not self.pins.running:
                self._reader.reset()  # the module reboots: what the host pipelined is lost
                return
            if self._payload is not None:
                item = self._reader.next_item()
                if not isinstance(item, PayloadChunk):
                    return
                self._payload_data += item.data
                if item.complete:
                    self._end_payload(complete=True)
                continue
            if self._command is not None:
                return
            item = self._reader.next_item()
            if item is None:
                return
            self.pins.set_ready(False, self.now)
            match item:
                case Line(data=b""):
                    self._write(framing.PROMPT)
                case Line(data=data):
                    self._execute(data)
                case LineTooLong():
                    self._write(self._error_reply(error(ErrorCode.BAD_ARGUMENT), ""))
                case ControlBytes(data=data):
                    self._write(b"".join([_ECHO[byte] for byte in data]))
                case PayloadChunk():  # pragma: no cover - the reader yields these only in payloads
                    raise LocalProtocolError("payload outside a command")
            if self._command is None:
                self.pins.set_ready(self.pins.running, self.now)

    def _execute(self, data: bytes) -> None:
        command = split_command_line(data, fold_case=self.profile.fold_command_case)
        handler = self._handlers.get(command.code)
        if command.code not in COMMANDS or handler is None:
            self._write(framing.UNKNOWN_COMMAND_REPLY)
            return
        self._command = command
        if len(command.args) > MAX_ARGUMENT_TOKENS:
            self._finish(error(ErrorCode.TOO_MANY_ARGUMENTS))
            return
        self._settle(handler(self, command))

    def _settle(self, outcome: Outcome) -> None:
        match outcome:
            case Done():
                self._finish(outcome)
            case Wait():
                done = outcome.poll(None)
                if done is not None:
                    self._settle(done)
                else:
                    self._wait = outcome
            case ReadPayload():
                self.pins.set_ready(True, self.now)
                self._payload = outcome
                self._payload_data.clear()
                self._reader.expect_payload(outcome.length)
                self._payload_deadline = (
                    self.now + outcome.timeout_ms / 1000 if outcome.timeout_ms > 0 else None
                )
                if outcome.length == 0:
                    self._end_payload(complete=True)

    def _end_payload(self, *, complete: bool) -> None:
        payload, self._payload = self._payload, None
        assert payload is not None
        self._payload_deadline = None
        self.pins.set_ready(False, self.now)
        if not complete:
            self._reader.abandon_payload()
        data = bytes(self._payload_data)
        self._payload_data.clear()
        if complete and self.profile.link is LinkProfile.SPI and self._command is not None:
            # The rest of the host's SPI transfer (pad byte, Zephyr's stray byte) is not
            # a command: the module drops it when chip-select rises (docs/protocol.md §1.5).
            transfer = len(self._command.raw) + 1 + len(data)
            self._reader.skip_transfer_tail(odd=transfer % 2 == 1)
        self._settle(payload.then(data, complete))

    def _abandon_command(self) -> None:
        """End the command in progress as its timeout would, without a reply."""
        if self._command is None:
            return
        self._payload = None
        self._payload_deadline = None
        self._payload_data.clear()
        wait, self._wait = self._wait, None
        for _ in range(_ABANDON_STEPS):  # multi-step commands (C0 retries) end step by step
            if wait is None:
                break
            outcome = wait.on_timeout()
            wait = outcome if isinstance(outcome, Wait) else None
        self._command = None
        pending, self._pending_async = self._pending_async, []
        for message in pending:
            self._write(framing.uart_async(message))
        self.pins.set_ready(self.pins.running, self.now)

    def _finish(self, done: Done) -> None:
        command, self._command = self._command, None
        self._wait = None
        code = command.code if command else ""
        if done.raw:
            reply = done.text
        elif done.ok:
            reply = done.text + framing.ok_terminator(bool(done.text))
        else:
            reply = self._error_reply(done, code)
        self._write(reply)
        self._effects.extend(done.after_reply)
        pending, self._pending_async = self._pending_async, []
        for message in pending:
            self._write(framing.uart_async(message))
        self.pins.set_ready(self.pins.running, self.now)

    def _error_reply(self, done: Done, code: str) -> bytes:
        spec = COMMANDS.get(code)
        return done.text + framing.error_terminator(
            bool(done.text),
            verbose=self.message_type == 0,
            code=code,
            usage=spec.usage if spec else "",
            error=done.error,
        )

    def _write(self, data: bytes) -> None:
        if self.hung:
            return
        if self.profile.link is LinkProfile.SPI:
            data = framing.spi_pad(data)
        self._effects.append(m.HostWrite(data=data))

    # ------------------------------------------------------------------ network events

    def _connection(self, conn_id: int) -> Connection | None:
        index = self._conn_slots.get(conn_id)
        if index is None:
            return None
        conn = self.sockets[index].connection
        return conn if conn is not None and conn.conn == conn_id else None

    def _apply(self, event: m.NetEvent) -> None:
        match event:
            case m.Received(conn=conn_id, data=data):
                conn = self._connection(conn_id)
                if conn is None:
                    return
                conn.rx += data
                if len(conn.rx) >= RX_HIGH_WATER and not conn.paused:
                    conn.paused = True
                    self.emit(m.PauseReading(conn=conn_id))
            case m.DatagramReceived(conn=conn_id):
                if conn := self._connection(conn_id):
                    self._datagram(conn, event)
            case m.PeerClosed(conn=conn_id):
                if conn := self._connection(conn_id):
                    conn.peer_closed = True
            case m.ConnectionLost(conn=conn_id) | m.SendFailed(conn=conn_id):
                if conn := self._connection(conn_id):
                    conn.lost = True
            case m.Accepted():
                self._accepted(event)
            case m.AcceptFailed(listener=listener):
                index = self._listener_slots.get(listener)
                server = self.sockets[index].server if index is not None else None
                if server is not None and server.accepting == event.conn:
                    server.accepting = None
                    self.announce(b"[TCP SVR] Error accepting TCP connection", tcp_server=True)
            case m.Listening(listener=listener):
                index = self._listener_slots.get(listener)
                server = self.sockets[index].server if index is not None else None
                if server is not None and server.listener == listener:
                    server.state = ServerState.LISTENING
            case (
                m.Listening()
                | m.ListenFailed()
                | m.Sent()
                | m.Connected()
                | m.ConnectFailed()
                | m.Resolved()
                | m.ResolveFailed()
                | m.PingReply()
                | m.PingFailed()
                | m.SettingsSaved()
                | m.SettingsNotSaved()
            ):
                pass  # consumed by the waiting command's poll
            case _:
                raise LocalProtocolError(f"unexpected network event {event!r}")

    def _accepted(self, event: m.Accepted) -> None:
        index = self._listener_slots.get(event.listener)
        slot = self.sockets[index] if index is not None else None
        server = slot.server if slot is not None else None
        if index is None or slot is None or server is None or server.accepting != event.conn:
            self.emit(m.CloseConnection(conn=event.conn, abort=True))
            return
        server.accepting = None
        server.accepted_once = True
        self.bind_connection(
            index, Connection(conn=event.conn, peer_host=event.peer_host, peer_port=event.peer_port)
        )
        rule = (
            self.profile.multi_accept_port
            if server.mode is ServerMode.MULTI
            else self.profile.single_accept_port
        )
        if server.mode is ServerMode.MULTI or server.accept_loop:
            # Accept loops keep the served client's port in the P4 field (shown by P?).
            slot.registers = replace(slot.registers, remote_port=event.peer_port)
        port = event.peer_port if rule is AcceptedPort.PEER else server.port
        self.announce(f"[TCP SVR] Accepted {event.peer_host}:{port}".encode(), tcp_server=True)

    def _datagram(self, conn: Connection, event: m.DatagramReceived) -> None:
        if conn.kind is ConnectionKind.DATAGRAM_SERVER and conn.peer_port == 0:
            conn.peer_host, conn.peer_port = event.host, event.port
            self.announce(f"[UDP SVR] Accepted {event.host}:{event.port}".encode(), tcp_server=True)
        if len(conn.datagrams) >= DATAGRAM_QUEUE_DEPTH:
            conn.dropped_datagrams += 1
            return
        conn.datagrams.append(Datagram(data=event.data, host=event.host, port=event.port))


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline
