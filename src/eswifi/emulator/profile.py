"""Firmware profiles: frozen descriptions of how one firmware build behaves.

Where real firmware versions differ (I? string, MT default, the port printed in
``Accepted``, the link build, country codes …), the difference is a field here, never an
``if`` in a command handler. What depends on the link rather than the version (the
``F0=2`` protocol, which needs the SPI build's ``MR``) follows ``link``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from eswifi.errors import ConfigError


class LinkProfile(Enum):
    """The module build the host expects on its link."""

    UART = "uart"
    """Asynchronous messages are pushed between replies."""
    SPI = "spi"
    """Replies padded with 0x15; asynchronous messages queued for MR."""


class AcceptedPort(Enum):
    """Which port a ``[TCP SVR] Accepted ip:port`` line shows."""

    LOCAL = "local"
    PEER = "peer"


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareProfile:
    """How one firmware build answers."""

    name: str
    """Profile name, e.g. ``"C6.2.1.11"``."""
    info: str
    """The line ``I?`` prints."""
    link: LinkProfile
    """The link build this firmware is."""
    message_type: int = 1
    """MT at power-up: 1 = simple errors, 0 = ``ERROR: <msg>`` + ``Usage:``."""
    single_accept_port: AcceptedPort = AcceptedPort.LOCAL
    """Port shown by ``Accepted`` for a P5=1 server."""
    multi_accept_port: AcceptedPort = AcceptedPort.PEER
    """Port shown by ``Accepted`` for a P5=11 server."""
    backlog_range: tuple[int, int] = (1, 16)
    """Values P8 accepts."""
    max_send: int = 1460
    """Largest S3 payload."""
    fold_command_case: bool = False
    """Accept lower-case command codes (C6 upper-cases the first two characters)."""
    mr_queue_depth: int = 16
    """Asynchronous messages kept for MR on the SPI build; the oldest is dropped beyond it."""
    udp_source_port_quirk: bool = True
    """A UDP client (P6=1) sends from the P4 port instead of P2 (docs/protocol.md §5 item 5)."""
    country_codes: tuple[str, ...] = ()
    """Country codes ``CN`` accepts; empty: any two letters (C3.5.2.5 takes CA/FR/US/JP)."""
    default_country: str = "US"
    """Country code at factory defaults."""
    link_events_end_with_ok: bool = False
    """``[INFO   ] Link Down``/``Link Up`` pushed on the UART link are followed by ``OK``
    before the prompt (C6); in an MR reply (SPI link) they never are."""
    dns_error_code: int = -6
    """The number after ``[DNS  LU] Host not found <name>:`` (lwIP 2.0 ``ERR_VAL``)."""

    def __post_init__(self) -> None:
        if self.message_type not in (0, 1):
            raise ConfigError(f"message_type must be 0 or 1, not {self.message_type}")
        low, high = self.backlog_range
        if not 0 <= low <= high:
            raise ConfigError(f"bad backlog_range {self.backlog_range}")
        if self.default_country not in self.country_codes and self.country_codes:
            raise ConfigError(f"default_country {self.default_country!r} not in country_codes")
        if self.mr_queue_depth < 1:
            raise ConfigError(f"mr_queue_depth must be at least 1, not {self.mr_queue_depth}")

    @property
    def product_name(self) -> str:
        """The last field of the ``I?`` line."""
        return self.info.rsplit(",", 1)[-1]

    def info_line(self, product_name: str) -> str:
        """The ``I?`` line with ``product_name`` (set by ``ZN``) as its last field."""
        return self.info.rsplit(",", 1)[0] + "," + product_name


UART_C6 = FirmwareProfile(
    name="C6.2.1.11",
    info="ISM43362-M3G-L44,C6.2.1.11,v6.2.1,v2.0.3,v9.0.0,120000000,Inventek eS-WiFi",
    link=LinkProfile.UART,
    link_events_end_with_ok=True,
)
SPI_C3525 = FirmwareProfile(
    name="C3.5.2.5.STM",
    info="ISM43362-M3G-L44-SPI,C3.5.2.5.STM,v3.5.2,v1.4.0.rc1,v8.2.1,120000000,Inventek eS-WiFi",
    link=LinkProfile.SPI,
    backlog_range=(1, 6),
    country_codes=("CA", "FR", "US", "JP"),
)

PROFILES: Mapping[str, FirmwareProfile] = {p.name: p for p in (UART_C6, SPI_C3525)}
"""Named profiles, selectable with ``--firmware``."""

DEFAULT_FOR_LINK: Mapping[LinkProfile, FirmwareProfile] = {
    LinkProfile.UART: UART_C6,
    LinkProfile.SPI: SPI_C3525,
}


def profile_named(name: str) -> FirmwareProfile:
    """The built-in profile called ``name``.

    Raises:
        ConfigError: no such profile (the message lists the known names).
    """
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(f"unknown firmware {name!r} (known: {known})") from None
