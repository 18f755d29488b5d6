"""Fault injection and pins on a running module: the text commands of ``eswifi emulate
--control``.

One command per line; the answer is one line, ``ok …`` or ``error: …``::

    vanish <ssid>            the access point goes out of range (Link Down if joined to it)
    appear <ssid>            it comes back (Link Up, if the module was joined to it)
    rssi <ssid> <dBm>        its signal now reads <dBm>
    station <mac> [<dBm>]    a client joins the module's soft AP
    fault …                  seeded faults: see :mod:`eswifi.emulator.fault_commands`
    reset                    pulse RESET: the module reboots
    reset hold               hold RESET low: the module is dead until released
    reset release            release RESET: the module boots
    wakeup high|low          drive WAKEUP (recorded only)
    pins                     every pin's level: reset=1 wakeup=0 ready=1 power=running …
    watch pins               (served by the CLI) then one line per edge: <pin> <level> <t>
    status                   what the module and its radio look like now
    help                     this list

Pure: :func:`run_control_command` works on an engine and a ``now``; the CLI serves it on a
TCP socket and runs each command on the runtime's engine task.
"""

from __future__ import annotations

import re

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.fault_commands import run_fault_command
from eswifi.emulator.messages import PinChanged

HELP = (
    "commands: vanish <ssid> | appear <ssid> | rssi <ssid> <dBm> | station <mac> [<dBm>]"
    " | status | fault … | reset [hold|release] | wakeup high|low | pins | watch pins"
)
_LEVELS = {"high": 1, "low": 0, "1": 1, "0": 0}
MIN_RSSI, MAX_RSSI = -100, 0
"""Signal levels an access point or station may read (as in the radio file)."""
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def run_control_command(engine: ModuleEngine, line: str, *, now: float) -> str:
    """Carry out one control command and return its one-line answer."""
    word, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    match word.lower():
        case "vanish" | "appear" if rest:
            if not engine.set_ap_present(rest, word.lower() == "appear", now=now):
                return f"error: no access point {rest!r}"
            return f"ok {rest} {'in range' if word.lower() == 'appear' else 'gone'}"
        case "rssi" if rest:
            ssid, _, level = rest.rpartition(" ")
            if not ssid or not re.fullmatch(r"-?\d{1,3}", level):
                return "error: usage: rssi <ssid> <dBm>"
            if not MIN_RSSI <= int(level) <= MAX_RSSI:
                return f"error: rssi must be {MIN_RSSI} to {MAX_RSSI} dBm, not {int(level)}"
            if not engine.set_ap_rssi(ssid.strip(), int(level), now=now):
                return f"error: no access point {ssid.strip()!r}"
            return f"ok {ssid.strip()} {int(level)} dBm"
        case "station" if rest:
            mac, _, level = rest.partition(" ")
            if not _MAC.match(mac) or (level and not re.fullmatch(r"-?\d{1,3}", level.strip())):
                return "error: usage: station <mac> [<dBm>]"
            rssi = int(level) if level else -40
            if not MIN_RSSI <= rssi <= MAX_RSSI:
                return f"error: rssi must be {MIN_RSSI} to {MAX_RSSI} dBm, not {rssi}"
            if not engine.station_join(mac.upper(), rssi=rssi, now=now):
                return "error: no soft AP running, or it is full"
            return f"ok {mac.upper()} joined"
        case "fault" | "faults":
            return run_fault_command(engine, rest.split(), now=now)
        case "reset":
            return _reset(engine, rest.lower(), now)
        case "wakeup" if rest.lower() in _LEVELS:
            wakeup = _LEVELS[rest.lower()]
            engine.set_wakeup(wakeup, now=now)
            return f"ok wakeup {wakeup}"
        case "wakeup":
            return "error: usage: wakeup high|low"
        case "pins" if not rest:
            return "ok " + engine.pins.line()
        case "status":
            return "ok " + status(engine)
        case "help":
            return "ok " + HELP
        case _:
            return "error: " + HELP


def _reset(engine: ModuleEngine, how: str, now: float) -> str:
    match how:
        case "":
            engine.pulse_reset(now=now)
            return "ok reset"
        case "hold":
            engine.hold_reset(now=now)
            return "ok reset held"
        case "release":
            if not engine.release_reset(now=now):
                return "error: reset is not held"
            return "ok reset released"
    return "error: usage: reset [hold|release]"


def edge_line(engine: ModuleEngine, edge: PinChanged) -> str:
    """The line ``watch pins`` sends for an edge: ``<pin> <level> <seconds since start>``."""
    return f"{edge.pin} {edge.level} {edge.at - engine.started_at:.6f}"


def status(engine: ModuleEngine) -> str:
    """One line: the station's association, the soft AP, and each access point."""
    wifi = engine.wifi
    joined = wifi.joined_ssid or (f"(lost {wifi.rejoin_ssid})" if wifi.rejoin_ssid else "-")
    aps = ", ".join(
        f"{ap.ssid}:{'up' if ap.present else 'gone'}:{ap.rssi}" for ap in engine.radio.access_points
    )
    soft_ap = f"{len(engine.soft_ap.clients)} clients" if wifi.ap_active else "off"
    return f"joined={joined} ip={wifi.ip} soft-ap={soft_ap} aps=[{aps}]"
