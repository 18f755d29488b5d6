"""The radio file (``eswifi emulate --radio FILE``): access points, the module's identity,
scheduled link events, the network's DNS and firmware-profile overrides, read with the
stdlib ``tomllib``.

Every problem is a :class:`~eswifi.errors.ConfigError` whose message names the file, the
line and the field, e.g. ``lab.toml:12: access_points[1].bssid: not a MAC address``.
See ``docs/wifi-and-system.md`` for the format; :func:`example_text` is a file that uses
every field (``eswifi radio-example`` prints it).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from eswifi.emulator.profile import (
    DEFAULT_FOR_LINK,
    AcceptedPort,
    FirmwareProfile,
    LinkProfile,
    profile_named,
)
from eswifi.emulator.radio import (
    DEFAULT_RADIO,
    MAX_DNS_NAME,
    AccessPoint,
    Dns,
    Lease,
    LinkAction,
    Radio,
    RadioEvent,
    Security,
    Station,
)
from eswifi.emulator.timing import FIELDS as TIMING_FIELDS
from eswifi.emulator.timing import TIMINGS, Timing, timing_named
from eswifi.errors import ConfigError

SECURITY_NAMES: Mapping[str, Security] = {
    "open": Security.OPEN,
    "wep": Security.WEP,
    "wpa": Security.WPA,
    "wpa2": Security.WPA2_AES,
    "wpa2-aes": Security.WPA2_AES,
    "wpa-wpa2": Security.WPA_WPA2,
    "wpa2-tkip": Security.WPA2_TKIP,
}
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_PROFILE_FIELDS = {f.name for f in fields(FirmwareProfile)} - {"link"}

_T = TypeVar("_T")
_Where = tuple[str, int | None]
"""Table and array index of the field being read (for error messages)."""
_Kind = type[_T] | tuple[type[_T], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """What a radio file says: the radio, and which firmware with which overrides."""

    radio: Radio = DEFAULT_RADIO
    firmware: str | None = None
    """Profile name from the file (``[firmware] name``); the CLI's ``--firmware`` wins."""
    firmware_overrides: Mapping[str, Any] = field(default_factory=dict)
    """Profile fields the file sets, applied to whichever profile is chosen."""
    timing_overrides: Mapping[str, int] = field(default_factory=dict)
    """Operation times the file sets (``[timing]``), applied to the ``--timing`` table."""
    source: str = "<built-in>"

    def profile(self, *, link: LinkProfile, name: str | None = None) -> FirmwareProfile:
        """The firmware profile to run.

        Args:
            link: the link build (``--link``); the profile is made to match it.
            name: ``--firmware``; overrides the file's choice.

        Raises:
            ConfigError: unknown profile name, or an override the profile rejects.
        """
        chosen = name or self.firmware
        base = profile_named(chosen) if chosen else DEFAULT_FOR_LINK[link]
        try:
            return replace(base, link=link, **self.firmware_overrides)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: firmware: {exc}") from None

    def timing(self, name: str = "fast") -> Timing:
        """The ``--timing`` table ``name`` with the file's ``[timing]`` figures.

        Raises:
            ConfigError: unknown table name.
        """
        return timing_named(name, self.timing_overrides)


EXAMPLE = "example"
"""The ``--radio`` value that names the example shipped with the package."""


def example_text() -> str:
    """The example radio file shipped with the package (every field, with comments)."""
    return resources.files("eswifi.emulator").joinpath("radio-example.toml").read_text("utf-8")


def load_config(path: str | Path) -> EmulatorConfig:
    """Read a radio file.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or has a bad field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read radio file: {exc}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<string>") -> EmulatorConfig:
    """Parse the text of a radio file (see :func:`load_config`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None
    return _Parser(text, source).config(data)


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    # -------------------------------------------------------------- errors

    def fail(
        self, where: tuple[str, int | None, str | None], message: str, *, line: int | None = None
    ) -> ConfigError:
        table, index, key = where
        name = table if index is None else f"{table}[{index}]"
        if key:
            name = f"{name}.{key}" if name else key
        line = line or self._line_of(table, index, key)
        place = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{place}: {name}: {message}")

    def _line_of(self, table: str, index: int | None, key: str | None) -> int | None:
        start, end = 0, len(self.lines)
        if table:
            header = (
                re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
                if index is not None
                else re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
            )
            found = [i for i, line in enumerate(self.lines) if header.match(line)]
            position = index if index is not None else 0
            if position >= len(found):
                return None
            start = found[position]
            later = (i for i in range(start + 1, len(self.lines)) if _is_header(self.lines[i]))
            end = next(later, len(self.lines))
        if key:
            top = key.split(".")[0]
            pattern = re.compile(rf"^\s*\"?{re.escape(top)}\"?\s*=")
            for i in range(start, end):
                if pattern.match(self.lines[i]):
                    return i + 1
        return start + 1 if table else None

    # -------------------------------------------------------------- values

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(("", None, key), "must be a table")
        self.known(value, (key, None), allowed)
        return value

    def known(
        self,
        data: Mapping[str, Any],
        where: tuple[str, int | None],
        allowed: set[str],
        *,
        prefix: str = "",
    ) -> None:
        for key in data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail((*where, prefix + key), f"unknown field (known: {known})")

    @overload
    def get(
        self,
        data: Mapping[str, Any],
        where: _Where,
        key: str,
        kind: _Kind[_T],
        *,
        default: _T,
        required: bool = False,
    ) -> _T: ...
    @overload
    def get(
        self,
        data: Mapping[str, Any],
        where: _Where,
        key: str,
        kind: _Kind[_T],
        *,
        required: Literal[True],
    ) -> _T: ...
    @overload
    def get(
        self, data: Mapping[str, Any], where: _Where, key: str, kind: _Kind[_T]
    ) -> _T | None: ...
    def get(
        self,
        data: Mapping[str, Any],
        where: _Where,
        key: str,
        kind: _Kind[_T],
        *,
        default: _T | None = None,
        required: bool = False,
    ) -> _T | None:
        if key not in data:
            if required:
                raise self.fail((*where, key), "missing")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail((*where, key), f"must be {names}, not {value!r}")
        return value

    def integer(
        self, data: Mapping[str, Any], where: _Where, key: str, low: int, high: int, *, default: int
    ) -> int:
        value = self.get(data, where, key, int, default=default)
        if not low <= value <= high:
            raise self.fail((*where, key), f"must be between {low} and {high}, not {value}")
        return value

    @overload
    def mac(self, data: Mapping[str, Any], where: _Where, key: str, *, default: str) -> str: ...
    @overload
    def mac(
        self, data: Mapping[str, Any], where: _Where, key: str, *, required: Literal[True]
    ) -> str: ...
    def mac(
        self,
        data: Mapping[str, Any],
        where: _Where,
        key: str,
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        value = self.get(data, where, key, str, default=default, required=required)
        if value is not None and not _MAC.match(value):
            raise self.fail((*where, key), f"not a MAC address (xx:xx:xx:xx:xx:xx): {value!r}")
        return value.upper() if value is not None else None

    @overload
    def text(
        self, data: Mapping[str, Any], where: _Where, key: str, max_length: int, *, default: str
    ) -> str: ...
    @overload
    def text(
        self,
        data: Mapping[str, Any],
        where: _Where,
        key: str,
        max_length: int,
        *,
        required: Literal[True],
    ) -> str: ...
    @overload
    def text(
        self, data: Mapping[str, Any], where: _Where, key: str, max_length: int
    ) -> str | None: ...
    def text(
        self,
        data: Mapping[str, Any],
        where: _Where,
        key: str,
        max_length: int,
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        value = self.get(data, where, key, str, default=default, required=required)
        if value is not None and (len(value) > max_length or "," in value):
            raise self.fail((*where, key), f"at most {max_length} characters, no commas")
        return value

    # -------------------------------------------------------------- sections

    def config(self, data: Mapping[str, Any]) -> EmulatorConfig:
        self.known(
            data,
            ("", None),
            {
                "module",
                "radio",
                "dns",
                "firmware",
                "timing",
                "access_points",
                "stations",
                "events",
            },
        )
        module = self.table(data, "module", {"mac", "name"})
        timing = self.table(data, "radio", {"join_time_ms", "scan_time_ms"})
        firmware = self.table(data, "firmware", _PROFILE_FIELDS)
        aps = tuple(
            self.access_point(item, i) for i, item in enumerate(self.array(data, "access_points"))
        )
        ssids = [ap.ssid for ap in aps]
        for i, ssid in enumerate(ssids):
            if ssids.index(ssid) != i:
                raise self.fail(("access_points", i, "ssid"), f"{ssid!r} appears twice")
        stations = tuple(
            self.station(item, i) for i, item in enumerate(self.array(data, "stations"))
        )
        events = tuple(
            self.event(item, i, set(ssids)) for i, item in enumerate(self.array(data, "events"))
        )
        default = DEFAULT_RADIO
        radio = Radio(
            access_points=aps if "access_points" in data else default.access_points,
            mac=self.mac(module, ("module", None), "mac", default=default.mac),
            name=self.text(module, ("module", None), "name", 32),
            join_time_ms=self.integer(
                timing, ("radio", None), "join_time_ms", 0, 60_000, default=0
            ),
            scan_time_ms=self.integer(
                timing, ("radio", None), "scan_time_ms", 0, 60_000, default=0
            ),
            stations=stations,
            events=events,
            dns=self.dns(self.table(data, "dns", {"hosts", "forward"})),
        )
        name = self.get(firmware, ("firmware", None), "name", str)
        if name is not None:
            try:
                profile_named(name)
            except ConfigError as exc:
                raise self.fail(("firmware", None, "name"), str(exc)) from None
        overrides = {k: self.profile_field(k, v) for k, v in firmware.items() if k != "name"}
        times = self.table(data, "timing", set(TIMING_FIELDS))
        for key, value in times.items():
            if type(value) is not int:
                raise self.fail(("timing", None, key), f"must be an integer, not {value!r}")
        for table in TIMINGS:
            try:
                timing_named(table, times)
            except ConfigError as exc:
                raise self.fail(("timing", None, None), str(exc)) from None
        config = EmulatorConfig(
            radio=radio,
            firmware=name,
            firmware_overrides=overrides,
            timing_overrides=dict(times),
            source=self.source,
        )
        for link in LinkProfile:
            try:
                config.profile(link=link)
            except ConfigError as exc:
                message = str(exc).split("firmware: ", 1)[-1]
                raise self.fail(("firmware", None, None), message) from None
        return config

    def dns(self, table: Mapping[str, Any]) -> Dns:
        where = ("dns", None)
        hosts = table.get("hosts", {})
        if not isinstance(hosts, Mapping):
            raise self.fail((*where, "hosts"), 'must be a table: { "name" = "IPv4", … }')
        seen: dict[str, str] = {}
        pairs = []
        for name, address in hosts.items():
            field = f"hosts.{name}" if _BARE_KEY.match(name) else f'hosts."{name}"'

            def bad(message: str, name: str = name, field: str = field) -> ConfigError:
                return self.fail((*where, field), message, line=self._line_of_host(name))

            if not _HOST_NAME.match(name) or len(name) > MAX_DNS_NAME:
                raise bad(f"not a host name (at most {MAX_DNS_NAME} letters, digits, - _ .)")
            if _is_ipv4(name):
                raise bad("an address, not a name (D0 answers addresses itself)")
            if isinstance(address, Mapping):
                raise bad('must be an IPv4 address string (quote names with dots: "a.lab")')
            if not isinstance(address, str) or not _is_ipv4(address):
                raise bad(f"not an IPv4 address: {address!r}")
            folded = name.lower().removesuffix(".")
            if folded in seen:
                raise bad(f"same name as {seen[folded]!r} (names are case-insensitive)")
            seen[folded] = name
            pairs.append((name, str(ipaddress.IPv4Address(address))))
        forward = self.get(table, where, "forward", bool, default=True)
        return Dns(hosts=tuple(pairs), forward=forward)

    def _line_of_host(self, name: str) -> int | None:
        """The line giving ``name`` its address (``hosts = { … }`` or ``[dns.hosts]``)."""
        header = re.compile(r"^\s*\[\s*dns\s*[\].]")
        start = next((i for i, line in enumerate(self.lines) if header.match(line)), 0)
        key = re.escape(name)
        pattern = re.compile(rf"(^|[{{,\s])(\"{key}\"|'{key}'|{key})\s*[=.]")
        found = (i + 1 for i in range(start, len(self.lines)) if pattern.search(self.lines[i]))
        return next(found, None)

    def array(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.fail(("", None, key), f"must be an array of tables ([[{key}]])")
        return value

    def access_point(self, item: Mapping[str, Any], index: int) -> AccessPoint:
        where = ("access_points", index)
        allowed = {
            "ssid",
            "bssid",
            "security",
            "passphrase",
            "rssi",
            "channel",
            "rate",
            "present",
            "dhcp",
        }
        self.known(item, where, allowed)
        ssid = self.text(item, where, "ssid", 32, required=True)
        if not ssid:
            raise self.fail((*where, "ssid"), "must not be empty")
        raw = self.get(item, where, "security", (str, int), default="open")
        if isinstance(raw, int):
            if raw not in tuple(Security):
                raise self.fail((*where, "security"), f"must be 0–5, not {raw}")
            security = Security(raw)
        elif isinstance(raw, str) and raw.lower() in SECURITY_NAMES:
            security = SECURITY_NAMES[raw.lower()]
        else:
            names = ", ".join(SECURITY_NAMES)
            raise self.fail((*where, "security"), f"unknown security {raw!r} (known: {names})")
        passphrase = self.text(item, where, "passphrase", 64, default="")
        if security is not Security.OPEN and not passphrase:
            raise self.fail((*where, "passphrase"), f"required for security {raw!r}")
        rate = self.get(item, where, "rate", (int, float), default=54.0)
        if not 0 < rate <= 1000:
            raise self.fail((*where, "rate"), f"must be between 0 and 1000 Mbit/s, not {rate}")
        return AccessPoint(
            ssid=ssid,
            bssid=self.mac(item, where, "bssid", required=True),
            security=security,
            passphrase=passphrase,
            rssi=self.integer(item, where, "rssi", -100, 0, default=-50),
            channel=self.integer(item, where, "channel", 1, 14, default=6),
            max_rate=float(rate),
            present=self.get(item, where, "present", bool, default=True),
            dhcp=self.lease(item, where),
        )

    def lease(self, item: Mapping[str, Any], where: tuple[str, int]) -> Lease | None:
        dhcp = item.get("dhcp")
        if dhcp is None:
            return None
        if not isinstance(dhcp, Mapping):
            raise self.fail((*where, "dhcp"), "must be a table: { ip = ..., netmask = ... }")
        self.known(dhcp, where, {"ip", "netmask", "gateway", "dns1", "dns2"}, prefix="dhcp.")

        def address(key: str, default: str = "0.0.0.0", *, required: bool = False) -> str:
            if key not in dhcp and required:
                raise self.fail((*where, f"dhcp.{key}"), "missing")
            value = dhcp.get(key, default)
            try:
                return str(ipaddress.IPv4Address(value))
            except ValueError:
                raise self.fail(
                    (*where, f"dhcp.{key}"), f"not an IPv4 address: {value!r}"
                ) from None

        return Lease(
            ip=address("ip", required=True),
            netmask=address("netmask", "255.255.255.0"),
            gateway=address("gateway"),
            dns1=address("dns1"),
            dns2=address("dns2"),
        )

    def station(self, item: Mapping[str, Any], index: int) -> Station:
        where = ("stations", index)
        self.known(item, where, {"mac", "rssi"})
        return Station(
            mac=self.mac(item, where, "mac", required=True),
            rssi=self.integer(item, where, "rssi", -100, 0, default=-40),
        )

    def event(self, item: Mapping[str, Any], index: int, ssids: set[str]) -> RadioEvent:
        where = ("events", index)
        self.known(item, where, {"at", "ssid", "action"})
        at = self.get(item, where, "at", (int, float), required=True)
        if at < 0:
            raise self.fail((*where, "at"), f"must be 0 or more seconds, not {at}")
        ssid = self.get(item, where, "ssid", str, required=True)
        if ssid not in ssids:
            raise self.fail((*where, "ssid"), f"no access point {ssid!r} in this file")
        action = self.get(item, where, "action", str, required=True)
        try:
            kind = LinkAction(action)
        except ValueError:
            raise self.fail(
                (*where, "action"), f"must be 'vanish' or 'appear', not {action!r}"
            ) from None
        return RadioEvent(at=float(at), ssid=ssid, action=kind)

    def profile_field(self, key: str, value: Any) -> Any:
        where = ("firmware", None)
        current = getattr(DEFAULT_FOR_LINK[LinkProfile.UART], key)
        if isinstance(current, AcceptedPort):
            try:
                return AcceptedPort(value)
            except ValueError:
                raise self.fail((*where, key), "must be 'local' or 'peer'") from None
        if isinstance(current, tuple):
            if not isinstance(value, list):
                raise self.fail((*where, key), "must be an array")
            if key == "backlog_range" and (
                len(value) != 2 or not all(type(v) is int for v in value)
            ):
                raise self.fail((*where, key), "must be [low, high]")
            if key == "country_codes" and not all(
                isinstance(v, str) and len(v) == 2 and v.isalpha() and v.isupper() for v in value
            ):
                raise self.fail((*where, key), "must be two-letter upper-case codes")
            return tuple(value)
        return self.get({key: value}, where, key, type(current))


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_header(line: str) -> bool:
    return bool(re.match(r"^\s*\[", line))
