"""What the module's answers mean: pure parsers shared by the sync and asyncio clients.

Each function takes the text of one reply (its value or its lines) and returns what the
module said, as the dataclasses below. Nothing here sends a command or does I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from eswifi.errors import CommandError
from eswifi.wire.replies import Reply

INFO_LINE = re.compile(r"[^,]*(?:,[^,]*){5,}")
"""``I?``: product, firmware, API, stack, RTOS, clock, name (the name may hold commas)."""
_SCAN_LINE = re.compile(
    r'#(\d+),"(.*)",([0-9A-Fa-f:]{17}),(-?\d+),([\d.]+),([^,]*),([^,]*),([^,]*),(\d+)'
)
_QUERIES = frozenset({"CS", "CR", "CV"})
"""Commands without ``?`` that only show something."""


class Security(IntEnum):
    """Wi-Fi security types, numbered as ``C3`` takes them."""

    OPEN = 0
    WEP = 1
    WPA = 2
    WPA2 = 3
    WPA_WPA2 = 4
    WPA2_TKIP = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleInfo:
    """What ``I?`` reports."""

    product: str
    firmware: str
    api: str
    stack: str
    rtos: str
    cpu_clock: int | None
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkStatus:
    """What ``C?`` reports (docs/protocol.md §3.1)."""

    ssid: str
    passphrase: str
    security: int
    dhcp: bool
    ip: str
    mask: str
    gateway: str
    dns1: str
    dns2: str
    country: str
    connected: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPoint:
    """One line of a scan (``F0``)."""

    ssid: str
    bssid: str
    rssi: int
    rate: float
    network_type: str
    security: str
    band: str
    channel: int


def module_info(value: str) -> ModuleInfo:
    """The fields of an ``I?`` line (one that matches :data:`INFO_LINE`)."""
    fields = value.split(",")
    fields += [""] * (7 - len(fields))
    clock = fields[5].strip()
    return ModuleInfo(
        product=fields[0],
        firmware=fields[1],
        api=fields[2],
        stack=fields[3],
        rtos=fields[4],
        cpu_clock=int(clock) if clock.isdigit() else None,
        name=",".join(fields[6:]),
    )


def access_points(lines: Iterable[str]) -> list[AccessPoint]:
    """The access points of a scan reply; lines that are not scan entries are skipped."""
    found = []
    for line in lines:
        match = _SCAN_LINE.match(line)
        if match is not None:
            found.append(
                AccessPoint(
                    ssid=match.group(2),
                    bssid=match.group(3),
                    rssi=int(match.group(4)),
                    rate=float(match.group(5)),
                    network_type=match.group(6),
                    security=match.group(7),
                    band=match.group(8),
                    channel=int(match.group(9)),
                )
            )
    return found


def joined_address(lines: Iterable[str]) -> str | None:
    """The address in a join reply's ``[JOIN   ] <ssid>,<ip>,0,0`` line, if there is one."""
    address = None
    for line in lines:
        parts = line.split("]", 1)[-1].strip().split(",")
        if line.startswith("[JOIN") and len(parts) >= 2 and is_ipv4(parts[1]):
            address = parts[1]
    return address


def ping_times(lines: Iterable[str]) -> list[float | None]:
    """One round-trip time in seconds per echo of a ``T0`` reply, None where it timed out."""
    times: list[float | None] = []
    for line in lines:
        if "," not in line:
            continue
        result = line.rsplit(",", 1)[1].strip()
        if result.replace(".", "", 1).isdigit():
            times.append(float(result) / 1000)
        elif result.lower().startswith("timeout"):
            times.append(None)
    return times


def command_error(reply: Reply) -> CommandError:
    """The exception for a reply that answered ERROR."""
    detail = reply.message or reply.text.strip().replace("\r\n", " / ") or "module answered ERROR"
    return CommandError(reply.command, reply.raw, detail)


def is_query(line: str | bytes) -> bool:
    """Whether a typed command line only shows settings (changes no register)."""
    text = line.decode("latin-1") if isinstance(line, bytes) else line
    code = text.strip()
    return len(code) == 2 and (code.endswith("?") or code in _QUERIES)


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
