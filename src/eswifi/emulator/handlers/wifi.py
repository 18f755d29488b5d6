"""Wi-Fi commands against the virtual radio: C0–C4, CD, CS, CR, C? (spec §3.1)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from eswifi.emulator.engine import OK, Done, ModuleEngine, Outcome, error, value
from eswifi.emulator.handlers import args
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

JOIN = b"[JOIN   ] "


def _set(module: ModuleEngine, **changes: object) -> Done:
    module.wifi.registers = replace(module.wifi.registers, **changes)
    return OK


def set_ssid(module: ModuleEngine, command: CommandLine) -> Outcome:
    ssid = args.text(command, 0, 32)
    return error(ErrorCode.BAD_ARGUMENT) if not ssid else _set(module, ssid=ssid)


def set_passphrase(module: ModuleEngine, command: CommandLine) -> Outcome:
    passphrase = args.text(command, 0, 64)
    return (
        error(ErrorCode.BAD_ARGUMENT) if passphrase is None else _set(module, passphrase=passphrase)
    )


def set_security(module: ModuleEngine, command: CommandLine) -> Outcome:
    security = args.integer(command, 0, 0, 5)
    return error(ErrorCode.BAD_ARGUMENT) if security is None else _set(module, security=security)


def set_dhcp(module: ModuleEngine, command: CommandLine) -> Outcome:
    dhcp = args.integer(command, 0, 0, 1)
    return error(ErrorCode.BAD_ARGUMENT) if dhcp is None else _set(module, dhcp=bool(dhcp))


def join(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    regs = wifi.registers
    if wifi.joined:
        return error(text=b"\r\nAlready connected!")
    if not regs.ssid:
        return error()
    name = regs.ssid.encode("latin-1")
    ap = module.radio.find(regs.ssid)
    if ap is None or not ap.admits(regs.security, regs.passphrase):
        return error(text=b"\r\n" + JOIN + name + b"\r\n" + JOIN + b"Failed")
    _lease(module)
    wifi.joined_ssid = ap.ssid
    return value(JOIN + name + b",%s,0,0" % wifi.ip.encode())


def _lease(module: ModuleEngine) -> None:
    """Give the module its address: the host address, on that address's own network."""
    wifi = module.wifi
    address = ipaddress.IPv4Address(module.host_address)
    prefix = 8 if address.is_loopback else 24
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    wifi.ip = str(address)
    wifi.mask = str(network.netmask)
    wifi.gateway = str(next(network.hosts()))
    wifi.dns1 = wifi.gateway
    wifi.dns2 = "0.0.0.0"


def disconnect(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    module.leave_network()
    wifi.joined_ssid = None
    wifi.ip = wifi.mask = wifi.gateway = wifi.dns1 = wifi.dns2 = "0.0.0.0"
    return OK


def show_status(module: ModuleEngine, command: CommandLine) -> Outcome:
    return value("1" if module.wifi.joined else "0")


def show_rssi(module: ModuleEngine, command: CommandLine) -> Outcome:
    ap = module.radio.find(module.wifi.joined_ssid or "") if module.wifi.joined else None
    return value(str(ap.rssi if ap is not None else 0))


def show_network(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    regs = wifi.registers
    fields = (
        regs.ssid,
        regs.passphrase,
        regs.security,
        int(regs.dhcp),
        0,
        wifi.ip,
        wifi.mask,
        wifi.gateway,
        wifi.dns1,
        wifi.dns2,
        regs.join_retries,
        regs.auto_connect,
        0,
        regs.country,
        int(wifi.joined),
    )
    return value(",".join(str(f) for f in fields).encode("latin-1"))


HANDLERS = {
    "C0": join,
    "C1": set_ssid,
    "C2": set_passphrase,
    "C3": set_security,
    "C4": set_dhcp,
    "CD": disconnect,
    "CR": show_rssi,
    "CS": show_status,
    "C?": show_network,
}
