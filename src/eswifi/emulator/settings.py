"""Saved settings (Z0–Z3): what survives a reset, as values and as JSON-ready snapshots.

The engine never touches a file: ``Z1``/``Z2``/``Z3`` emit a ``SaveSettings`` effect with
:meth:`StoredSettings.to_dict`, and whoever runs the engine writes it where it wants
(``eswifi emulate --state FILE``) and passes :meth:`StoredSettings.from_dict` back at start.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from eswifi.emulator.state import SoftApRegisters, WifiRegisters
from eswifi.errors import ConfigError

T = TypeVar("T")

SNAPSHOT_VERSION = 1
SPACES = 2
"""Settings spaces Z3 chooses between."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedSettings:
    """One settings space: Wi-Fi, soft AP and the module's identity."""

    wifi: WifiRegisters
    access_point: SoftApRegisters
    mac: str
    product_name: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "wifi": _record(self.wifi),
            "access_point": _record(self.access_point),
            "mac": self.mac,
            "product_name": self.product_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, factory: SavedSettings) -> SavedSettings:
        """Read a snapshot; missing fields keep ``factory`` values (older files still load)."""
        if not isinstance(data, Mapping):
            raise ConfigError("settings space must be a table")
        settings = cls(
            wifi=_load(factory.wifi, data.get("wifi", {}), "wifi"),
            access_point=_load(factory.access_point, data.get("access_point", {}), "access_point"),
            mac=_typed(data.get("mac", factory.mac), str, "mac"),
            product_name=_typed(
                data.get("product_name", factory.product_name), str, "product_name"
            ),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check every value is one the module's commands could have set.

        Raises:
            ConfigError: naming the first bad field, e.g. ``wifi.security: must be 0–5``.
        """
        values = {f"wifi.{name}": value for name, value in _record(self.wifi).items()}
        values |= {f"access_point.{n}": v for n, v in _record(self.access_point).items()}
        values |= {"mac": self.mac, "product_name": self.product_name}
        for where, value in values.items():
            rule = _RULES.get(where)
            problem = rule(value) if rule is not None else None
            if problem is not None:
                raise ConfigError(f"{where}: {problem}, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSettings:
    """The module's flash: two settings spaces and the one in use."""

    spaces: tuple[SavedSettings | None, ...] = (None,) * SPACES
    selected: int = 0

    def current(self) -> SavedSettings | None:
        return self.spaces[self.selected]

    def with_current(self, settings: SavedSettings | None) -> StoredSettings:
        spaces = list(self.spaces)
        spaces[self.selected] = settings
        return replace(self, spaces=tuple(spaces))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "selected": self.selected,
            "spaces": [s.to_dict() if s is not None else None for s in self.spaces],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, factory: SavedSettings) -> StoredSettings:
        """Read what :meth:`to_dict` wrote.

        Raises:
            ConfigError: the data is not a settings snapshot of this version.
        """
        if not isinstance(data, Mapping) or data.get("version") != SNAPSHOT_VERSION:
            raise ConfigError(f"not a version {SNAPSHOT_VERSION} settings snapshot")
        selected = data.get("selected", 0)
        spaces = data.get("spaces", [])
        if selected not in range(SPACES) or not isinstance(spaces, list) or len(spaces) != SPACES:
            raise ConfigError("bad settings spaces")
        loaded = tuple(
            SavedSettings.from_dict(s, factory=factory) if s is not None else None for s in spaces
        )
        return cls(spaces=loaded, selected=selected)


def _record(value: object) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in fields(value)}  # type: ignore[arg-type]


def _load(default: T, data: object, where: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table")
    changes = {}
    for f in fields(default):  # type: ignore[arg-type]
        if f.name in data:
            expected = type(getattr(default, f.name))
            changes[f.name] = _typed(data[f.name], expected, f"{where}.{f.name}")
    return replace(default, **changes)  # type: ignore[type-var]


def _typed(value: object, expected: type, where: str) -> Any:
    if type(value) is not expected:
        raise ConfigError(f"{where} must be {expected.__name__}, not {type(value).__name__}")
    return value


def _number(low: int, high: int) -> Callable[[Any], str | None]:
    return lambda value: None if low <= value <= high else f"must be {low}–{high}"


def _text(most: int, *, empty: bool = True) -> Callable[[Any], str | None]:
    def check(value: str) -> str | None:
        printable = all(0x20 <= ord(c) <= 0xFE for c in value)
        if len(value) > most or not printable or (not value and not empty):
            least = 0 if empty else 1
            return f"must be {least}–{most} printable Latin-1 characters"
        return None

    return check


def _ipv4(*, empty: bool = False) -> Callable[[Any], str | None]:
    def check(value: str) -> str | None:
        if empty and value == "":
            return None
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return "must be an IPv4 address" + (" or empty" if empty else "")
        return None

    return check


_MAC = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_RULES: Mapping[str, Callable[[Any], str | None]] = {
    # the ranges of the commands that set each field (C1–CN, A1–Z6, Z4, ZN)
    "wifi.ssid": _text(32),
    "wifi.passphrase": _text(64),
    "wifi.security": _number(0, 5),
    "wifi.ip_version": _number(0, 0),
    "wifi.static_ip": _ipv4(),
    "wifi.static_mask": _ipv4(),
    "wifi.static_gateway": _ipv4(),
    "wifi.dns1": _ipv4(),
    "wifi.dns2": _ipv4(),
    "wifi.join_retries": _number(0, 10),
    "wifi.auto_connect": _number(0, 3),
    "wifi.wep_auth": _number(0, 1),
    "wifi.country": lambda v: None if _COUNTRY.fullmatch(v) else "must be two capital letters",
    "access_point.ssid": _text(32),
    "access_point.ssid_mode": _number(0, 1),
    "access_point.security": _number(0, 4),
    "access_point.passphrase": _text(63),
    "access_point.channel": _number(0, 13),
    "access_point.max_clients": _number(1, 4),
    "access_point.lease_time": _number(1, 65_535),
    "access_point.ip": _ipv4(empty=True),
    "mac": lambda v: None if _MAC.fullmatch(v) else "must be a MAC address XX:XX:XX:XX:XX:XX",
    "product_name": _text(32, empty=False),
}
