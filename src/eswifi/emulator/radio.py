"""The virtual radio environment: access points the module can see and join."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Security(IntEnum):
    """Security types as C3 numbers them."""

    OPEN = 0
    WEP = 1
    WPA = 2
    WPA2_AES = 3
    WPA_WPA2 = 4
    WPA2_TKIP = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPoint:
    """One access point of the virtual radio."""

    ssid: str
    bssid: str
    security: Security
    passphrase: str = ""
    rssi: int = -50
    channel: int = 6

    def admits(self, security: int, passphrase: str) -> bool:
        """Whether a join with these C3/C2 settings succeeds."""
        if self.security is Security.OPEN:
            return security == Security.OPEN
        if self.security is Security.WEP:
            return security == Security.WEP and passphrase == self.passphrase
        return security >= Security.WPA and passphrase == self.passphrase


@dataclass(frozen=True, slots=True, kw_only=True)
class Radio:
    """Everything the module's radio sees, plus the module's own identity."""

    access_points: tuple[AccessPoint, ...]
    mac: str = "C4:7F:51:01:12:31"

    def find(self, ssid: str) -> AccessPoint | None:
        """The access point with this SSID, if it is in range."""
        return next((ap for ap in self.access_points if ap.ssid == ssid), None)


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
