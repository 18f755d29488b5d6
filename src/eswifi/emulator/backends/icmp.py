"""One ICMP echo for the module's ``T0``, with the best means the process has.

1. An ICMP datagram socket (``SOCK_DGRAM, IPPROTO_ICMP``), where the OS lets unprivileged
   processes have one (Linux with ``net.ipv4.ping_group_range``, macOS).
2. A raw ICMP socket, when running as root (or with ``CAP_NET_RAW``).
3. Otherwise a TCP probe to port 7: a host that answers at all (accepts or refuses the
   connection) counts as a reply, its round trip as the time; silence is a timeout.

:func:`echo` returns the round-trip time in milliseconds or raises ``TimeoutError`` /
``OSError``; the caller bounds it in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import struct

ECHO_REQUEST = 8
ECHO_REPLY = 0
PROBE_PORT = 7
"""The TCP port of the fallback probe (echo; usually closed, which answers quickly)."""
PAYLOAD = b"eswifi-ping"

_sequence = itertools.count(1)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, sequence: int) -> bytes:
    unsummed = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, sequence) + PAYLOAD
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(unsummed), ident, sequence) + PAYLOAD


def open_icmp_socket() -> tuple[socket.socket, bool] | None:
    """An ICMP socket and whether it is raw (its packets carry the IP header), or None."""
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
        except OSError:
            continue
        sock.setblocking(False)
        return sock, raw
    return None


async def echo(host: str) -> float:
    """Send one echo request to ``host`` (IPv4) and return the round trip in ms."""
    loop = asyncio.get_running_loop()
    opened = open_icmp_socket()
    if opened is None:
        return await _tcp_probe(host)
    sock, raw = opened
    with sock:
        ident = os.getpid() & 0xFFFF
        sequence = next(_sequence) & 0xFFFF
        start = loop.time()
        await loop.sock_sendto(sock, echo_request(ident, sequence), (host, 0))
        while True:
            packet, _ = await loop.sock_recvfrom(sock, 2048)
            if raw:
                packet = packet[(packet[0] & 0x0F) * 4 :]
            if len(packet) < 8:
                continue
            kind, _, _, got_ident, got_sequence = struct.unpack("!BBHHH", packet[:8])
            # A datagram socket's identifier is the kernel's: only the sequence is ours.
            if kind == ECHO_REPLY and got_sequence == sequence and (not raw or got_ident == ident):
                return (loop.time() - start) * 1000


async def _tcp_probe(host: str) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        _, writer = await asyncio.open_connection(host, PROBE_PORT)
    except ConnectionRefusedError:
        return (loop.time() - start) * 1000
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return (loop.time() - start) * 1000
