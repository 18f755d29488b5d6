"""Figures over one host link (TCP console or pty): the emulator, then the client library.

For each link the same raw AT client (:mod:`eswifi.bench.host`) runs the same exchanges
against ``eswifi emulate`` and against the raw relay (:mod:`eswifi.bench.relay`); then the
client library runs its own against the same emulator, beside the raw client's figures.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from eswifi.bench import host
from eswifi.bench.host import JOIN, BenchError, Console, Sink, Source
from eswifi.bench.report import Row, latency, rss_bytes
from eswifi.client_bench import measure_client as measure_client_library
from eswifi.testing.launch import EmulatorProcess

Progress = Callable[[str], None]

P_QUERY_TARGET = 0.85
STREAM_TARGET = 0.75
CLIENT_TARGET = 0.6
RSS_ALLOWANCE = 4 * 1024 * 1024
"""Growth of the emulator's resident memory over a run still counted as flat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    rounds: int
    repeats: int
    stream_bytes: int
    client_bytes: int
    accepts: int
    cap: float
    """Seconds one transfer may take; a slower one stops there and reports its prefix."""


@dataclass(slots=True)
class Raw:
    """What the raw AT client measured against one responder."""

    query: dict[str, float]
    send: float
    """MB/s."""
    receive: float
    accept: float
    """Accept cycles per second."""


@contextlib.contextmanager
def relay(pty: bool, query_size: int) -> Iterator[str]:
    """The raw relay in a subprocess; yields its link URL."""
    command = [sys.executable, "-m", "eswifi.bench.relay", "--query-size", str(query_size)]
    process = subprocess.Popen(
        command + (["--pty"] if pty else []), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.startswith("link: "):
            raise BenchError(f"the relay did not start: {line!r}")
        yield line.removeprefix("link: ")
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def measure_raw(
    consoles: dict[str, Console], settings: Settings, progress: Progress
) -> dict[str, Raw]:
    """The raw AT client's exchanges against each responder, best of ``repeats``.

    The responders take turns within each repeat, so a busy moment on a shared machine
    hits both sides of a ratio alike.
    """
    queries: dict[str, list[dict[str, float]]] = {who: [] for who in consoles}
    sends: dict[str, list[float]] = {who: [] for who in consoles}
    receives: dict[str, list[float]] = {who: [] for who in consoles}
    accepts: dict[str, list[float]] = {who: [] for who in consoles}
    data = host.pattern(settings.stream_bytes)
    ports = {}
    for console in consoles.values():
        console.setup(*(command + b"\r" for command in JOIN.split(b"\r") if command))
        console.exchange(b"P?\r")  # warm-up
    for repeat in range(settings.repeats):
        for who, console in consoles.items():
            progress(f"{who}: P? round trips ({repeat + 1}/{settings.repeats})")
            queries[who].append(latency(host.round_trips(console, b"P?\r", settings.rounds)))
        for who, console in consoles.items():
            progress(f"{who}: S3 {settings.stream_bytes:,} bytes")
            sends[who].append(_send(console, data, settings.cap)[0])
        for who, console in consoles.items():
            progress(f"{who}: R0 {settings.stream_bytes:,} bytes")
            receives[who].append(_receive(console, data, settings.cap)[0])
        for who, console in consoles.items():
            progress(f"{who}: {settings.accepts} accepts")
            if who not in ports:
                ports[who] = host.free_port()
                console.setup(b"P0=1\r", b"P1=0\r", b"P2=%d\r" % ports[who])
                console.exchange(b"P5=11\r")
            console.setup(b"P0=1\r")  # the transfers selected socket 0
            seconds = host.accept_cycles(console, ports[who], settings.accepts)
            accepts[who].append(settings.accepts / seconds)
    for console in consoles.values():
        console.setup(b"P0=1\r")
        console.exchange(b"P5=0\r", b"> ")
        console.setup(b"P0=0\r")
    return {
        who: Raw(
            query=max(queries[who], key=lambda figure: figure["rate"]),
            send=max(sends[who]),
            receive=max(receives[who]),
            accept=max(accepts[who]),
        )
        for who in consoles
    }


def _send(console: Console, data: bytes, cap: float) -> tuple[float, int]:
    """S3 throughput (MB/s) and the bytes sent."""
    sink = Sink()
    try:
        console.setup(*host.connect_commands(sink.port))
        sent, seconds = host.send_stream(console, data, sink, time.perf_counter() + cap)
        console.exchange(b"P6=0\r", b"> ")
    finally:
        sink.close()
    return sent / seconds / 1e6, sent


def _receive(console: Console, data: bytes, cap: float) -> tuple[float, int]:
    """R0 throughput (MB/s) and the bytes received."""
    source = Source(data)
    try:
        console.setup(*host.connect_commands(source.port))
        received, seconds = host.receive_stream(console, data, time.perf_counter() + cap)
        console.exchange(b"P6=0\r", b"> ")
    finally:
        source.close()
    return received / seconds / 1e6, received


def link_rows(link: str, settings: Settings, progress: Progress) -> list[Row]:
    """Every figure over ``link`` (``tcp`` or ``pty``)."""
    options = ("--pty",) if link == "pty" else ()
    with EmulatorProcess(*options) as emulator:
        progress(f"{link}: emulator started on {emulator.url}")
        with Console(emulator.url) as console:
            rss_before = rss_bytes(emulator.process.pid)
            query_size = len(console.exchange(b"P?\r"))
            with relay(link == "pty", query_size) as url, Console(url) as baseline_console:
                consoles = {f"{link} emulator": console, f"{link} relay": baseline_console}
                raw = measure_raw(consoles, settings, progress)
        module, baseline = raw[f"{link} emulator"], raw[f"{link} relay"]
        client = measure_client(emulator.url, settings, progress, f"{link} client")
        rss_after = rss_bytes(emulator.process.pid)
    rows = emulator_rows(link, module, baseline)
    rows += client_rows(link, client, settings)
    if rss_before is not None and rss_after is not None:
        growth = rss_after - rss_before
        rows.append(
            Row(
                section="memory",
                name="emulator RSS growth",
                link=link,
                unit="MiB",
                value=growth / 2**20,
                baseline=None,
                baseline_name="",
                verdict="PASS" if growth <= RSS_ALLOWANCE else "MISS",
                detail=f"resident memory {rss_before / 2**20:.1f} MiB before the figures, "
                f"{rss_after / 2**20:.1f} MiB after (flat: growth <= "
                f"{RSS_ALLOWANCE / 2**20:.0f} MiB)",
                extra={"before_bytes": rss_before, "after_bytes": rss_after},
            )
        )
    return rows


def emulator_rows(link: str, module: Raw, baseline: Raw) -> list[Row]:
    q, b = module.query, baseline.query
    relay_name = "raw asyncio relay (no engine), same commands and reply sizes"
    return [
        Row(
            section="emulator",
            name="P? round trip",
            link=link,
            unit="/s",
            value=q["rate"],
            baseline=b["rate"],
            baseline_name="raw asyncio echo of the same request and reply sizes",
            target=P_QUERY_TARGET,
            detail=f"p50 {q['p50_us']:.0f} µs, p99 {q['p99_us']:.0f} µs "
            f"(baseline p50 {b['p50_us']:.0f} µs, p99 {b['p99_us']:.0f} µs)",
            extra={f"{key}": value for key, value in q.items()}
            | {f"baseline_{key}": value for key, value in b.items()},
        ),
        Row(
            section="emulator",
            name="S3 host->peer, 1460-byte chunks",
            link=link,
            unit="MB/s",
            value=module.send,
            baseline=baseline.send,
            baseline_name=relay_name + ", one reply per chunk",
            target=STREAM_TARGET,
            detail="S3=1460 + payload, one reply each; SHA-256 checked at the peer",
        ),
        Row(
            section="emulator",
            name="R0 peer->host, 1460-byte chunks",
            link=link,
            unit="MB/s",
            value=module.receive,
            baseline=baseline.receive,
            baseline_name=relay_name + ", one reply per chunk",
            target=STREAM_TARGET,
            detail="R0 until the peer's stream arrived; SHA-256 checked at the host",
        ),
        Row(
            section="emulator",
            name="accept P5=11 / P5=10",
            link=link,
            unit="/s",
            value=module.accept,
            baseline=baseline.accept,
            baseline_name=relay_name + ", accepting the same peers",
            detail="peer connects, [TCP SVR] Accepted arrives, P5=10 closes it",
        ),
    ]


@dataclass(slots=True)
class ClientFigures:
    """The client library's figures and the raw AT client's, measured turn about."""

    query: float
    raw_query: float
    send: float
    raw_send: float
    receive: float
    raw_receive: float
    send_bytes: int
    receive_bytes: int


def measure_client(url: str, settings: Settings, progress: Progress, who: str) -> ClientFigures:
    """The client library's command(), sendall() and recv() against the emulator
    (:func:`eswifi.client_bench.measure_client`), each next to the raw AT client doing
    the same on the same link (one host at a time, so they take turns)."""
    query = raw_query = 0.0
    for repeat in range(settings.repeats):
        progress(f"{who}: command('P?') and raw P? ({repeat + 1}/{settings.repeats})")
        with Console(url) as console:
            console.exchange(b"P?\r")
            times = host.round_trips(console, b"P?\r", settings.rounds)
            raw_query = max(raw_query, latency(times)["rate"])
        query = max(
            query, measure_client_library(url, size=1, rounds=settings.rounds).commands_per_s
        )
    data = host.pattern(settings.client_bytes)
    progress(f"{who}: raw S3 and R0, {settings.client_bytes:,} bytes each")
    with Console(url) as console:
        raw_send = _send(console, data, settings.cap)[0]
        raw_receive = _receive(console, data, settings.cap)[0]
    progress(f"{who}: recv and sendall, {settings.client_bytes:,} bytes each")
    library = measure_client_library(url, size=settings.client_bytes, rounds=1)
    return ClientFigures(
        query=query,
        raw_query=raw_query,
        send=library.sendall_mb_per_s,
        raw_send=raw_send,
        receive=library.recv_mb_per_s,
        raw_receive=raw_receive,
        send_bytes=library.size,
        receive_bytes=library.size,
    )


def client_rows(link: str, client: ClientFigures, settings: Settings) -> list[Row]:
    raw_name = "raw-socket AT client, same exchange, same emulator"

    def moved(count: int) -> str:
        return f"{count:,} bytes, SHA-256 checked (eswifi.client_bench.measure_client)"

    return [
        Row(
            section="client",
            name="command('P?')",
            link=link,
            unit="/s",
            value=client.query,
            baseline=client.raw_query,
            baseline_name=raw_name + " (P? round trips)",
            target=CLIENT_TARGET,
            detail="Module.command('P?') round trips",
        ),
        Row(
            section="client",
            name="sendall() through TCP",
            link=link,
            unit="MB/s",
            value=client.send,
            baseline=client.raw_send,
            baseline_name=raw_name + " (S3, 1460-byte chunks)",
            target=CLIENT_TARGET,
            detail=moved(client.send_bytes),
        ),
        Row(
            section="client",
            name="recv() through TCP",
            link=link,
            unit="MB/s",
            value=client.receive,
            baseline=client.raw_receive,
            baseline_name=raw_name + " (R0, 1460-byte chunks)",
            target=CLIENT_TARGET,
            detail=moved(client.receive_bytes),
        ),
    ]
