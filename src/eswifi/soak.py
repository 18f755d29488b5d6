"""The soak: a real ``eswifi emulate`` under every kind of churn at once, checked for leaks.

:func:`soak` starts the emulator as a subprocess and, for ``seconds``, runs at the same
time (all on loopback):

* a console host that keeps re-attaching, re-joining, rebooting the module with ``ZR``,
  moving a multi-accept server on (``P5=11`` / ``P5=10``), sending data to an echo peer
  and reading back (SHA-256 of both streams compared), reading a flooding peer (its stream
  is a seeded one, SHA-256 compared) and reading a UDP storm (each datagram carries its
  own SHA-256);
* peers that connect to the multi-accept server and close, or reset with ``SO_LINGER 0``
  in the middle of sending;
* a TCP peer that floods as fast as flow control lets it;
* a UDP peer that sends datagrams as fast as it can.

Before (after a warm-up) and after, every peer is paused, the module is rebooted and the
emulator's open descriptors (``/proc/<pid>/fd``) and resident memory (``VmRSS``) are
read. The soak fails when data differ, the emulator dies, or fds or memory grow beyond
the tolerance. Every loop is bounded by the deadline and every wait by a timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from eswifi.testing.launch import EmulatorProcess

HOST = "127.0.0.1"
WAIT = 10.0
"""Seconds any single reply or socket operation may take before the soak fails."""
WARM_UP = 0.2
"""Share of the run (at least a few seconds) spent before the first measurement."""
FD_TOLERANCE = 0
RSS_TOLERANCE_KIB = 6 * 1024
"""Growth of resident memory accepted between the two measurements."""
PROMPT = b"\r\n> "
OK_END = b"\r\nOK\r\n> "
ERROR_END = b"ERROR\r\n> "
RESET_REPLY = b"\r\nReset" + PROMPT
SEND_FAILED = b"\r\n-1\r\n\r\nERROR\r\n> "
READ_SIZE = 1460
UDP_BURST = 100
UDP_PAUSE = 0.005
"""The UDP storm: bursts of this many datagrams this many seconds apart (about 20,000 a
second: far beyond what the module's queue holds, without starving the machine)."""
FLOOD_PATTERN_SEED = "eswifi-soak-flood"


class SoakFailure(Exception):
    """The module answered wrongly, lost or changed data, or leaked."""


@dataclass
class Counts:
    """What happened during the soak."""

    rounds: int = 0
    reattaches: int = 0
    resets: int = 0
    next_client: int = 0
    churn_connects: int = 0
    churn_resets: int = 0
    churn_sends: int = 0
    churn_send_failed: int = 0
    echo_bytes: int = 0
    flood_bytes: int = 0
    datagrams_sent: int = 0
    datagrams_read: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)


@dataclass(frozen=True)
class Sample:
    fds: int
    rss_kib: int


@dataclass(frozen=True)
class Report:
    seconds: float
    before: Sample
    after: Sample
    counts: Counts
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        c = self.counts
        return [
            f"soak: {self.seconds:.0f} s against a real eswifi emulate",
            f"  fds      before {self.before.fds}  after {self.after.fds}"
            f"  (tolerance +{FD_TOLERANCE})",
            f"  VmRSS    before {self.before.rss_kib} kB  after {self.after.rss_kib} kB"
            f"  (tolerance +{RSS_TOLERANCE_KIB} kB)",
            f"  rounds {c.rounds}, console re-attaches {c.reattaches}, ZR resets {c.resets},"
            f" P5=10 next-client {c.next_client}",
            f"  churn connects {c.churn_connects} (of which reset mid-send {c.churn_resets}),"
            f" S3 answers to them {c.churn_sends} sent, {c.churn_send_failed} -1 (peer gone)",
            f"  echo bytes both ways {c.echo_bytes} (SHA-256 equal), flood bytes read"
            f" {c.flood_bytes} (SHA-256 equal)",
            f"  UDP datagrams sent {c.datagrams_sent}, read and verified {c.datagrams_read}",
            "  result: " + ("ok" if self.ok else "FAILED: " + "; ".join(self.failures)),
        ]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def sample(pid: int) -> Sample:
    """Open descriptors and resident memory of process ``pid`` (Linux /proc)."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return Sample(fds=fds, rss_kib=rss)


def flood_stream() -> Iterator[bytes]:
    """The flooding peer's bytes: a seeded pseudo-random stream, 4 KiB at a time."""
    stream = random.Random(FLOOD_PATTERN_SEED)
    while True:
        yield stream.randbytes(4096)


def datagram(number: int, rng: random.Random) -> bytes:
    body = struct.pack(">Q", number) + rng.randbytes(rng.randint(8, 200))
    return hashlib.sha256(body).digest() + body


def datagram_intact(data: bytes) -> bool:
    return len(data) > 32 and hashlib.sha256(data[32:]).digest() == data[:32]


# --------------------------------------------------------------------------- console host


class Console:
    """One attached console host speaking raw AT commands."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def close(self) -> None:
        self.sock.close()

    def read_until(self, *endings: bytes) -> bytes:
        """The bytes up to and including the first of ``endings`` that arrives."""
        deadline = time.monotonic() + WAIT
        while True:
            found = [(at, e) for e in endings if (at := self.pending.find(e)) >= 0]
            if found:
                at, ending = min(found)
                reply, self.pending = (
                    self.pending[: at + len(ending)],
                    self.pending[at + len(ending) :],
                )
                return reply
            if time.monotonic() > deadline:
                raise SoakFailure(f"no reply within {WAIT} s; got {self.pending[-200:]!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SoakFailure("the console closed")
            self.pending += chunk

    def command(self, line: bytes, payload: bytes = b"") -> bytes:
        """Send a command (and its payload); return the whole reply up to the prompt."""
        self.sock.sendall(line + b"\r" + payload)
        return self.read_until(PROMPT)

    def ok(self, line: bytes) -> bytes:
        reply = self.command(line)
        if not reply.endswith(OK_END):
            raise SoakFailure(f"{line!r} answered {reply!r}")
        return reply

    def read_data(self) -> bytes | None:
        """R0 on the selected socket: its data, or None when it has no connection (-1)."""
        self.sock.sendall(b"R0\r")
        # Random data contains neither ending except with odds of about 2**-64 per byte.
        reply = self.read_until(OK_END, ERROR_END)
        if reply.endswith(ERROR_END) and reply.startswith(b"\r\n-1\r\n"):
            return None
        if not reply.startswith(b"\r\n") or not reply.endswith(OK_END):
            raise SoakFailure(f"R0 answered {reply!r}")
        return reply[2 : -len(OK_END)]


class Host:
    """The console side of the soak: sockets on the module, data checked."""

    def __init__(self, url: str, ports: dict[str, int], counts: Counts, rng: random.Random):
        address = url.removeprefix("socket://").rsplit(":", 1)
        self.address = (address[0], int(address[1]))
        self.ports = ports
        self.counts = counts
        self.rng = rng
        self.console: Console | None = None
        self.flood_check = hashlib.sha256()
        self.flood_expected = flood_stream()
        self.flood_spare = b""

    def attach(self) -> Console:
        if self.console is not None:
            self.console.close()
        self.console = Console(self.address)
        self.counts.add("reattaches")
        return self.console

    def reboot(self) -> None:
        """ZR, wait for the prompt, then join and open the four sockets again."""
        console = self.console or self.attach()
        reply = console.command(b"ZR")
        if reply != RESET_REPLY:
            raise SoakFailure(f"ZR answered {reply!r}")
        self.counts.add("resets")
        self.flood_expected = flood_stream()
        self.flood_spare = b""
        for line in (b"MS=3", b"C1=eswifi-lab", b"C2=eswifi-pass", b"C3=3"):
            console.ok(line)
        if b"[JOIN   ]" not in console.ok(b"C0"):
            raise SoakFailure("join failed")
        p = self.ports
        setups = [
            (b"P0=0", b"P1=0", b"P2=%d" % p["churn"], b"P8=4", b"P5=11"),
            (b"P0=1", b"P1=0", b"P3=127.0.0.1", b"P4=%d" % p["echo"], b"P6=1"),
            (b"P0=2", b"P1=0", b"P2=%d" % p["flood"], b"P5=1"),
            (b"P0=3", b"P1=1", b"P2=%d" % p["udp"], b"P5=1"),
        ]
        for setup in setups:
            for line in setup:
                console.ok(line)
        for slot in range(4):
            console.ok(b"P0=%d" % slot)
            console.ok(b"R1=%d" % READ_SIZE)
            console.ok(b"R2=1")

    def echo_round(self) -> None:
        """Send random data to the echo peer and read it all back unchanged."""
        console = self.console
        assert console is not None
        console.ok(b"P0=1")
        sent = hashlib.sha256()
        back = hashlib.sha256()
        total = 0
        for _ in range(self.rng.randint(1, 6)):
            data = self.rng.randbytes(self.rng.randint(1, READ_SIZE))
            reply = console.command(b"S3=%d" % len(data), data)
            if reply != b"\r\n%d%s" % (len(data), OK_END):
                raise SoakFailure(f"S3 answered {reply!r}")
            sent.update(data)
            total += len(data)
        got = 0
        deadline = time.monotonic() + WAIT
        while got < total:
            if time.monotonic() > deadline:
                raise SoakFailure(f"the echo returned {got} of {total} bytes")
            chunk = console.read_data() or b""
            back.update(chunk)
            got += len(chunk)
        if got != total or sent.digest() != back.digest():
            raise SoakFailure("echoed data differ (SHA-256)")
        self.counts.add("echo_bytes", total)

    def flood_round(self) -> None:
        console = self.console
        assert console is not None
        console.ok(b"P0=2")
        for _ in range(self.rng.randint(1, 8)):
            data = console.read_data() or b""
            if not data:
                break
            expected = self._expected(len(data))
            if hashlib.sha256(data).digest() != hashlib.sha256(expected).digest():
                raise SoakFailure("flooded data differ (SHA-256)")
            self.counts.add("flood_bytes", len(data))

    def _expected(self, count: int) -> bytes:
        while len(self.flood_spare) < count:
            self.flood_spare += next(self.flood_expected)
        data, self.flood_spare = self.flood_spare[:count], self.flood_spare[count:]
        return data

    def udp_round(self) -> None:
        console = self.console
        assert console is not None
        console.ok(b"P0=3")
        for _ in range(self.rng.randint(1, 8)):
            data = console.read_data() or b""
            if not data:
                break
            if not datagram_intact(data):
                raise SoakFailure(f"a datagram arrived changed: {data[:40]!r}")
            self.counts.add("datagrams_read")

    def churn_round(self) -> None:
        console = self.console
        assert console is not None
        console.ok(b"P0=0")
        for _ in range(self.rng.randint(1, 4)):
            if console.read_data() is not None:
                # Answer the client, who may be resetting at this very moment.
                data = self.rng.randbytes(self.rng.randint(1, READ_SIZE))
                reply = console.command(b"S3=%d" % len(data), data)
                if reply not in (b"\r\n%d%s" % (len(data), OK_END), SEND_FAILED):
                    raise SoakFailure(f"S3 to a churning client answered {reply!r}")
                self.counts.add("churn_sends" if reply != SEND_FAILED else "churn_send_failed")
            console.ok(b"P5=10")
            self.counts.add("next_client")


# --------------------------------------------------------------------------- peers


class Peers:
    """The remote side: echo server, churning clients, flooding client, UDP storm."""

    def __init__(self, ports: dict[str, int], counts: Counts, seed: int, stop: threading.Event):
        self.ports = ports
        self.counts = counts
        self.seed = seed
        self.stop = stop
        self.running = threading.Event()
        self.running.set()
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self.echo_server = socket.create_server((HOST, ports["echo"]))
        self.echo_server.settimeout(0.2)

    def start(self) -> None:
        for target in (self._echo, self._churn, self._churn, self._flood, self._udp):
            thread = threading.Thread(target=self._guard(target), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        self.running.set()
        for thread in self.threads:
            thread.join(WAIT)
        self.echo_server.close()

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # reported, and the soak fails
                self.errors.append(f"{target.__name__}: {exc!r}")
                self.stop.set()

        return run

    def _active(self) -> bool:
        self.running.wait(WAIT)
        return not self.stop.is_set()

    def _echo(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.echo_server, selectors.EVENT_READ)
            try:
                while self._active():
                    for key, _ in selector.select(0.2):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if sock is self.echo_server:
                            conn, _ = self.echo_server.accept()
                            conn.settimeout(WAIT)
                            selector.register(conn, selectors.EVENT_READ)
                            continue
                        try:
                            data = sock.recv(65536)
                            if not data:
                                raise ConnectionResetError
                            sock.sendall(data)
                        except OSError:
                            selector.unregister(sock)
                            sock.close()
            finally:
                for key in list(selector.get_map().values()):
                    if key.fileobj is not self.echo_server:
                        key.fileobj.close()  # type: ignore[union-attr]

    def _churn(self) -> None:
        rng = random.Random(f"{self.seed}:churn:{threading.get_ident()}")
        while self._active():
            try:
                peer = socket.create_connection((HOST, self.ports["churn"]), timeout=1.0)
            except OSError:
                time.sleep(0.02)
                continue
            self.counts.add("churn_connects")
            with peer, contextlib.suppress(OSError):
                peer.sendall(rng.randbytes(rng.randint(0, 4000)))
                if rng.random() < 0.5:
                    # Wait a moment for the module's answer: the close or reset below then
                    # often lands while the module is sending.
                    peer.settimeout(rng.uniform(0.01, 0.3))
                    peer.recv(rng.randint(1, 2000))
                if rng.random() < 0.5:
                    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.counts.add("churn_resets")

    def _flood(self) -> None:
        while self._active():
            try:
                peer = socket.create_connection((HOST, self.ports["flood"]), timeout=1.0)
            except OSError:
                time.sleep(0.02)
                continue
            with peer:
                peer.settimeout(0.2)
                stream = flood_stream()
                pending = b""
                while self._active():
                    pending = pending or next(stream)
                    try:
                        pending = pending[peer.send(pending) :]
                    except TimeoutError:
                        continue  # flow control holds us: the module is not reading
                    except OSError:
                        break  # the module rebooted

    def _udp(self) -> None:
        rng = random.Random(f"{self.seed}:udp")
        number = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while self._active():
                for _ in range(UDP_BURST):
                    number += 1
                    with contextlib.suppress(OSError):
                        sender.sendto(datagram(number, rng), (HOST, self.ports["udp"]))
                        self.counts.add("datagrams_sent")
                time.sleep(UDP_PAUSE)


# --------------------------------------------------------------------------- the run


def soak(seconds: float = 60.0, *, seed: int = 0, log: Callable[[str], None] = print) -> Report:
    """Run the soak for about ``seconds`` and return what it measured."""
    counts = Counts()
    ports = {name: free_port() for name in ("churn", "echo", "flood")}
    ports["udp"] = free_port(socket.SOCK_DGRAM)
    rng = random.Random(f"{seed}:host")
    failures: list[str] = []
    stop = threading.Event()
    warm_up = max(3.0, seconds * WARM_UP)
    start = time.monotonic()
    with EmulatorProcess("--listen", f"{HOST}:0") as emulator:
        pid = emulator.process.pid
        peers = Peers(ports, counts, seed, stop)
        host = Host(emulator.url, ports, counts, rng)
        before = after = Sample(0, 0)
        try:
            host.attach()
            host.reboot()
            peers.start()
            measured = False
            while not stop.is_set() and time.monotonic() - start < seconds:
                if not measured and time.monotonic() - start >= warm_up:
                    before = _quiet_sample(host, peers, pid)
                    log(f"  warm-up done: fds {before.fds}, VmRSS {before.rss_kib} kB")
                    measured = True
                _round(host, rng, counts)
            if not measured:
                before = _quiet_sample(host, peers, pid)
            after = _quiet_sample(host, peers, pid)
        except (SoakFailure, OSError) as exc:
            failures.append(str(exc) or repr(exc))
        finally:
            peers.join()
            if host.console is not None:
                host.console.close()
        failures += peers.errors
        if emulator.process.poll() is not None:
            failures.append(f"the emulator exited with {emulator.process.returncode}")
        elif emulator.stop() != 0:
            failures.append("the emulator did not stop cleanly")
        if emulator.errors().strip():
            failures.append("the emulator wrote to stderr: " + emulator.errors()[-500:])
    if before.fds and after.fds > before.fds + FD_TOLERANCE:
        failures.append(f"descriptors grew from {before.fds} to {after.fds}")
    if before.rss_kib and after.rss_kib > before.rss_kib + RSS_TOLERANCE_KIB:
        failures.append(f"VmRSS grew from {before.rss_kib} kB to {after.rss_kib} kB")
    return Report(time.monotonic() - start, before, after, counts, tuple(failures))


def _round(host: Host, rng: random.Random, counts: Counts) -> None:
    """One round: a few mixed steps, then a re-attach or (sometimes) a reboot."""
    for _ in range(rng.randint(3, 12)):
        step = rng.choice((host.echo_round, host.flood_round, host.udp_round, host.churn_round))
        step()
    counts.add("rounds")
    host.attach()
    if rng.random() < 0.25:
        host.reboot()


def _quiet_sample(host: Host, peers: Peers, pid: int) -> Sample:
    """Pause the peers, reboot the module (every socket closed), read fds and memory until
    two readings agree, then let everything run again."""
    peers.running.clear()
    try:
        time.sleep(0.3)  # let the peers notice the pause and finish their current send
        console = host.console or host.attach()
        reply = console.command(b"ZR")
        if reply != RESET_REPLY:
            raise SoakFailure(f"ZR answered {reply!r}")
        last = sample(pid)
        for _ in range(50):
            time.sleep(0.1)
            now = sample(pid)
            if now == last:
                break
            last = now
        return last
    finally:
        peers.running.set()
        host.reboot()
