"""The virtual radio environment: access points the module can see and join, and the
DNS of the network behind them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum, IntEnum


class Security(IntEnum):
    """Security types as C3 numbers them."""

    OPEN = 0
    WEP = 1
    WPA = 2
    WPA2_AES = 3
    WPA_WPA2 = 4
    WPA2_TKIP = 5

    @property
    def scan_label(self) -> str:
        """The word ``F0`` prints for this security (ST/Mbed map these by substring)."""
        return _SCAN_LABELS[self]


_SCAN_LABELS = {
    Security.OPEN: "Open",
    Security.WEP: "WEP",
    Security.WPA: "WPA TKIP",
    Security.WPA2_AES: "WPA2 AES",
    Security.WPA_WPA2: "WPA2 Mixed",
    Security.WPA2_TKIP: "WPA2 TKIP",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Fixed DHCP answer of an access point (otherwise the module gets its host address)."""

    ip: str
    netmask: str = "255.255.255.0"
    gateway: str = "0.0.0.0"
    dns1: str = "0.0.0.0"
    dns2: str = "0.0.0.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPoint:
    """One access point of the virtual radio."""

    ssid: str
    bssid: str
    security: Security
    passphrase: str = ""
    rssi: int = -50
    channel: int = 6
    max_rate: float = 54.0
    """Mbit/s, the scan line's rate field and ``CV``."""
    dhcp: Lease | None = None
    present: bool = True
    """In range now; link events flip it."""

    def admits(self, security: int, passphrase: str) -> bool:
        """Whether a join with these C3/C2 settings succeeds."""
        if self.security is Security.OPEN:
            return security == Security.OPEN
        if self.security is Security.WEP:
            return security == Security.WEP and passphrase == self.passphrase
        return security >= Security.WPA and passphrase == self.passphrase


@dataclass(frozen=True, slots=True, kw_only=True)
class Station:
    """A client that joins the module's soft AP when it starts."""

    mac: str
    rssi: int = -40


class LinkAction(Enum):
    VANISH = "vanish"
    APPEAR = "appear"


@dataclass(frozen=True, slots=True, kw_only=True)
class RadioEvent:
    """A scheduled change of the radio: an access point vanishes or comes back."""

    at: float
    """Seconds after the emulator started."""
    ssid: str
    action: LinkAction


MAX_DNS_NAME = 64
"""Longest host name ``D0`` takes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dns:
    """What the virtual network's DNS server answers ``D0`` with.

    Names in :attr:`hosts` are answered at once, without the host. Other names go to the
    host resolver when :attr:`forward` is true, and are not found otherwise (no lookup
    leaves the emulator, so failing names are deterministic and cause no traffic).
    """

    hosts: tuple[tuple[str, str], ...] = ()
    """Static names and their IPv4 addresses; a mapping is accepted too. Names compare
    case-insensitively and a trailing dot is ignored, as in DNS."""
    forward: bool = True
    """Send names not in :attr:`hosts` to the host resolver."""

    def __post_init__(self) -> None:
        pairs = self.hosts.items() if isinstance(self.hosts, Mapping) else self.hosts
        object.__setattr__(self, "hosts", tuple((_dns_key(n), a) for n, a in pairs))

    def lookup(self, name: str) -> str | None:
        """The static address of ``name``, or None if the table does not have it."""
        key = _dns_key(name)
        return next((address for known, address in self.hosts if known == key), None)


def _dns_key(name: str) -> str:
    return name.lower().removesuffix(".")


@dataclass(frozen=True, slots=True, kw_only=True)
class Radio:
    """Everything the module's radio sees, plus the module's own identity."""

    access_points: tuple[AccessPoint, ...]
    mac: str = "C4:7F:51:01:12:31"
    name: str | None = None
    """Product name shown by ``I?``/``Z?`` (None: the firmware profile's)."""
    join_time_ms: int = 0
    """How long one join attempt takes (``C0`` blocks meanwhile)."""
    scan_time_ms: int = 0
    """How long one scan pass takes."""
    stations: tuple[Station, ...] = ()
    events: tuple[RadioEvent, ...] = ()
    dns: Dns = Dns()
    """The network's DNS (the default forwards every name to the host resolver)."""

    def find(self, ssid: str) -> AccessPoint | None:
        """The access point with this SSID, if it is in range."""
        return next((ap for ap in self.access_points if ap.ssid == ssid and ap.present), None)

    def visible(self) -> tuple[AccessPoint, ...]:
        """Access points in range, in configuration order."""
        return tuple(ap for ap in self.access_points if ap.present)

    def knows(self, ssid: str) -> bool:
        """Whether an access point with this SSID is configured (in range or not)."""
        return any(ap.ssid == ssid for ap in self.access_points)

    def with_access_point(self, ssid: str, **changes: object) -> Radio:
        """A copy with the named access point changed."""
        aps = tuple(
            replace(ap, **changes) if ap.ssid == ssid else ap  # type: ignore[arg-type]
            for ap in self.access_points
        )
        return replace(self, access_points=aps)


DEFAULT_RADIO = Radio(
    access_points=(
        AccessPoint(
            ssid="eswifi-lab",
            bssid="02:E5:00:00:00:01",
            security=Security.WPA2_AES,
            passphrase="eswifi-pass",
            rssi=-48,
            channel=6,
        ),
        AccessPoint(
            ssid="eswifi-open",
            bssid="02:E5:00:00:00:02",
            security=Security.OPEN,
            rssi=-67,
            channel=11,
        ),
    ),
)
"""The built-in radio: a WPA2 network ``eswifi-lab`` and an open network ``eswifi-open``."""
