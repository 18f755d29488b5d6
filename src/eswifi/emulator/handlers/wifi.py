"""Wi-Fi commands against the virtual radio: C0–CE, CN, C?, CS, CR, CV, CD and the scan
commands F0–F5, F? (docs/protocol.md §3.1, §2.8)."""

from __future__ import annotations

from collections import deque

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args, setters
from eswifi.emulator.outcomes import OK, Done, Outcome, Wait, after, error, value
from eswifi.emulator.profile import LinkProfile
from eswifi.emulator.radio import AccessPoint
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import EOMA, OK_TERMINATOR, SOMA, ErrorCode

JOIN = b"[JOIN   ] "
ANY_BSSID = "00:00:00:00:00:00"


WIFI = "wifi.registers"
SCAN = "scan_settings"


def _set(module: ModuleEngine, **changes: object) -> Done:
    return setters.store(module, WIFI, **changes)


def set_ssid(module: ModuleEngine, command: CommandLine) -> Outcome:
    ssid = args.text(command, 0, 32)
    return error(ErrorCode.BAD_ARGUMENT) if not ssid else _set(module, ssid=ssid)


def set_passphrase(module: ModuleEngine, command: CommandLine) -> Outcome:
    # ST sends "C2=\r" for open networks: the empty token collapses, so no argument means "".
    passphrase = args.text(command, 0, 64) if command.args else ""
    if passphrase is None or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    return _set(module, passphrase=passphrase)


def set_dhcp(module: ModuleEngine, command: CommandLine) -> Outcome:
    dhcp = args.integer(command, 0, 0, 1)
    return error(ErrorCode.BAD_ARGUMENT) if dhcp is None else _set(module, dhcp=bool(dhcp))


def set_country(module: ModuleEngine, command: CommandLine) -> Outcome:
    if not command.args:
        return value(module.wifi.registers.country)
    token = command.args[0].strip(b" ").decode("latin-1")
    code, _, flag = token.partition("/")
    allowed = module.profile.country_codes
    valid = len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()
    if not valid or flag not in ("", "0", "1") or (allowed and code not in allowed):
        return error(ErrorCode.BAD_ARGUMENT)
    return _set(module, country=code)


# ----------------------------------------------------------------------------- join


def join(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    regs = wifi.registers
    if wifi.associated:
        return error(text=b"\r\nAlready connected!")
    if not regs.ssid:
        return error()
    wifi.rejoin_ssid = None
    return _attempt(module, bytearray(b"\r\n" + JOIN + regs.ssid.encode("latin-1")), 0)


def _attempt(module: ModuleEngine, text: bytearray, attempt: int) -> Done | Wait:
    """One join attempt taking the radio's join time; an absent AP is retried CB times."""

    def finish() -> Done | Wait:
        regs = module.wifi.registers
        name = regs.ssid.encode("latin-1")
        ap = module.radio.find(regs.ssid)
        if ap is not None and ap.admits(regs.security, regs.passphrase):
            module.associate(ap)
            result = b",%s,0,0" % module.wifi.ip.encode()
            line = b"\r\n" + JOIN + name if attempt else b""
            return Done(text=bytes(text + line + result))
        # A wrong passphrase is final; an access point out of range is looked for again.
        if ap is None and attempt < regs.join_retries:
            return _attempt(module, text + b"\r\n" + JOIN + b"Retrying", attempt + 1)
        return error(text=bytes(text + b"\r\n" + JOIN + b"Failed"))

    return after(module.now, module.timing.join_ms + module.radio.join_time_ms, finish)


def disconnect(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    if not wifi.ap_active:
        module.leave_network()
    wifi.joined_ssid = wifi.rejoin_ssid = None
    wifi.clear_address()
    return OK


# ----------------------------------------------------------------------------- status


def _joined_ap(module: ModuleEngine) -> AccessPoint | None:
    ssid = module.wifi.joined_ssid
    return module.radio.find(ssid) if ssid is not None else None


def show_status(module: ModuleEngine, command: CommandLine) -> Outcome:
    return value("1" if module.wifi.associated else "0")


def show_rssi(module: ModuleEngine, command: CommandLine) -> Outcome:
    ap = _joined_ap(module)
    return value(str(ap.rssi if ap is not None else 0))


def show_bit_rate(module: ModuleEngine, command: CommandLine) -> Outcome:
    ap = _joined_ap(module)
    return value(str(int(ap.max_rate) if ap is not None else 0))


def show_network(module: ModuleEngine, command: CommandLine) -> Outcome:
    wifi = module.wifi
    regs = wifi.registers
    address = (wifi.ip, wifi.mask, wifi.gateway, wifi.dns1, wifi.dns2)
    if not wifi.associated and wifi.rejoin_ssid is None and not regs.dhcp:
        address = (regs.static_ip, regs.static_mask, regs.static_gateway, regs.dns1, regs.dns2)
    fields = (
        regs.ssid,
        regs.passphrase,
        regs.security,
        int(regs.dhcp),
        regs.ip_version,
        *address,
        regs.join_retries,
        regs.auto_connect,
        regs.wep_auth,
        regs.country,
        int(wifi.associated),
    )
    return value(",".join(str(f) for f in fields).encode("latin-1"))


# ----------------------------------------------------------------------------- scan


def scan_line(index: int, ap: AccessPoint) -> bytes:
    """One ``F0`` entry: ``#001,"SSID",BSSID,RSSI,RATE,Infrastructure,SECURITY,2.4GHz,CH``."""
    return (
        f'#{index:03d},"{ap.ssid}",{ap.bssid.upper()},{ap.rssi},{ap.max_rate:.1f},Infrastructure,'
        f"{ap.security.scan_label},2.4GHz,{ap.channel}"
    ).encode("latin-1")


def _scan_results(module: ModuleEngine) -> list[bytes]:
    settings = module.scan_settings
    found = [
        ap
        for ap in module.radio.visible()
        if (not settings.channel or ap.channel == settings.channel)
        and (settings.bssid == ANY_BSSID or ap.bssid.upper() == settings.bssid)
        and (not settings.ssid or ap.ssid == settings.ssid)
    ]
    return [scan_line(i, ap) for i, ap in enumerate(found, start=1)]


def scan(module: ModuleEngine, command: CommandLine) -> Outcome:
    if command.args and (args.integer(command, 0, 2, 2) is None or len(command.args) > 1):
        return error(ErrorCode.BAD_ARGUMENT)
    asynchronous = bool(command.args)
    settings = module.scan_settings
    passes = settings.repeat
    per_pass = module.timing.scan_ms + module.radio.scan_time_ms
    duration = passes * per_pass + (passes - 1) * settings.delay_ms

    def report() -> Done:
        lines = _scan_results(module)
        if not asynchronous:
            return Done(text=b"".join(b"\r\n" + line for line in lines))
        if module.profile.link is not LinkProfile.SPI:
            # Only SPI builds have MR to fetch entries with: the UART build prints them all.
            return Done(text=b"".join(b"\r\n" + SOMA + line + EOMA for line in lines))
        if not lines:
            return OK
        module.scan_results = deque(lines[1:])
        return async_scan_entry(lines[0])

    return after(module.now, duration, report)


def async_scan_entry(line: bytes) -> Done:
    """One access point of an ``F0=2`` scan on the SPI build: a data phase of its own,
    ending in CR alone, without OK or prompt (the host sends MR for the next one)."""
    return Done(text=b"\r\n" + SOMA + line + EOMA + b"\r", raw=True)


def next_async_scan_entry(module: ModuleEngine) -> Done | None:
    """What MR answers while an ``F0=2`` scan is being fetched (None: no scan pending)."""
    results = module.scan_results
    if results is None:
        return None
    if results:
        return async_scan_entry(results.popleft())
    module.scan_results = None
    return Done(text=OK_TERMINATOR, raw=True)


def _scan_set(module: ModuleEngine, **changes: object) -> Done:
    return setters.store(module, SCAN, **changes)


def set_scan_bssid(module: ModuleEngine, command: CommandLine) -> Outcome:
    bssid = args.mac(command, 0) if command.args else ANY_BSSID
    return error(ErrorCode.BAD_ARGUMENT) if bssid is None else _scan_set(module, bssid=bssid)


def set_scan_ssid(module: ModuleEngine, command: CommandLine) -> Outcome:
    ssid = args.text(command, 0, 32) if command.args else ""
    return error(ErrorCode.BAD_ARGUMENT) if ssid is None else _scan_set(module, ssid=ssid)


def show_scan(module: ModuleEngine, command: CommandLine) -> Outcome:
    s = module.scan_settings
    return value(f"{s.repeat},{s.delay_ms},{s.channel},{s.bssid},{s.ssid}".encode("latin-1"))


HANDLERS = {
    "C0": join,
    "C1": set_ssid,
    "C2": set_passphrase,
    "C3": setters.number(WIFI, "security", 0, 5),
    "C4": set_dhcp,
    "C5": setters.number(WIFI, "ip_version", 0, 0),
    "C6": setters.address(WIFI, "static_ip"),
    "C7": setters.address(WIFI, "static_mask"),
    "C8": setters.address(WIFI, "static_gateway"),
    "C9": setters.address(WIFI, "dns1"),
    "CA": setters.address(WIFI, "dns2"),
    "CB": setters.number(WIFI, "join_retries", 0, 10),
    "CC": setters.number(WIFI, "auto_connect", 0, 3),
    "CD": disconnect,
    "CE": setters.number(WIFI, "wep_auth", 0, 1),
    "CN": set_country,
    "CR": show_rssi,
    "CS": show_status,
    "CV": show_bit_rate,
    "C?": show_network,
    "F0": scan,
    "F1": setters.number(SCAN, "repeat", 1, 10),
    "F2": setters.number(SCAN, "delay_ms", 0, 10_000),
    "F3": setters.number(SCAN, "channel", 0, 13),
    "F4": set_scan_bssid,
    "F5": set_scan_ssid,
    "F?": show_scan,
}
