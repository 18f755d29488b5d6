"""Radio files: the documented example loads, and bad files name the line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import OK

from eswifi.emulator.config import EmulatorConfig, load_config, parse_config
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import SPI_C3525, UART_C6, AcceptedPort, LinkProfile
from eswifi.emulator.radio import DEFAULT_RADIO, Dns, Lease, LinkAction, Security
from eswifi.errors import ConfigError
from eswifi.testing import EmulatorHarness

EXAMPLE = Path(__file__).parent.parent / "src" / "eswifi" / "emulator" / "radio-example.toml"


def test_documented_example_loads_and_runs() -> None:
    config = load_config(EXAMPLE)
    radio = config.radio
    assert [ap.ssid for ap in radio.access_points] == ["eswifi-lab", "office", "eswifi-open"]
    office = radio.access_points[1]
    assert office.security is Security.WPA_WPA2
    assert office.dhcp == Lease(
        ip="127.0.0.1", netmask="255.0.0.0", gateway="127.0.0.254", dns1="127.0.0.53"
    )
    assert not radio.access_points[2].present
    assert radio.join_time_ms == 800
    assert radio.dns == Dns(hosts={"printer.lab": "127.0.0.5", "nas.lab": "127.0.0.6"})
    assert radio.dns.forward
    assert [e.action for e in radio.events] == [
        LinkAction.VANISH,
        LinkAction.APPEAR,
        LinkAction.APPEAR,
    ]
    profile = config.profile(link=LinkProfile.UART)
    assert profile.name == "C3.5.2.5.STM" and profile.link is LinkProfile.UART
    module = EmulatorHarness(ModuleEngine(profile=profile, radio=radio))
    assert module.send(b"F0\r") == b""
    reply = module.advance(0.3)
    assert reply.count(b"\r\n#") == 2
    assert module.send(b"C1=office\rC2=office-pass\rC3=4\rC0\r") == OK * 3
    assert module.advance(0.8).endswith(b"[JOIN   ] office,127.0.0.1,0,0\r\nOK\r\n> ")
    assert module.advance(5).count(b"#") == 0
    assert module.send(b"F0\r") == b""
    assert module.advance(0.3).count(b"\r\n#") == 3


def test_empty_file_is_the_built_in_radio() -> None:
    config = parse_config("")
    assert config.radio == DEFAULT_RADIO
    assert config.profile(link=LinkProfile.UART) == UART_C6
    assert config.profile(link=LinkProfile.SPI) == SPI_C3525
    assert EmulatorConfig().profile(link=LinkProfile.SPI, name="C6.2.1.11").link is LinkProfile.SPI


def test_firmware_overrides_and_cli_choice() -> None:
    config = parse_config(
        '[firmware]\nname = "C6.2.1.11"\nmessage_type = 0\nfold_command_case = true\n'
        'single_accept_port = "peer"\ncountry_codes = ["US", "CA"]\nbacklog_range = [1, 4]\n'
    )
    profile = config.profile(link=LinkProfile.UART)
    assert (profile.name, profile.message_type, profile.fold_command_case) == ("C6.2.1.11", 0, True)
    assert profile.single_accept_port is AcceptedPort.PEER
    assert profile.country_codes == ("US", "CA") and profile.backlog_range == (1, 4)
    assert config.profile(link=LinkProfile.SPI, name="C3.5.2.5.STM").name == "C3.5.2.5.STM"
    with pytest.raises(ConfigError, match="unknown firmware 'nope'"):
        config.profile(link=LinkProfile.UART, name="nope")


def test_module_identity_reaches_the_engine() -> None:
    config = parse_config('[module]\nmac = "02:aa:bb:cc:dd:ee"\nname = "Board 7"\n')
    module = EmulatorHarness(ModuleEngine(radio=config.radio))
    assert module.send(b"Z5\r") == b"\r\n02:AA:BB:CC:DD:EE\r\nOK\r\n> "
    assert module.send(b"I?\r").endswith(b",Board 7\r\nOK\r\n> ")


def test_dns_table_reaches_the_engine() -> None:
    config = parse_config(
        '[dns]\nforward = false\n\n[dns.hosts]\n"Printer.lab" = "127.0.0.5"\nnas = "127.0.0.6"\n'
    )
    assert config.radio.dns == Dns(
        hosts={"printer.lab": "127.0.0.5", "nas": "127.0.0.6"}, forward=False
    )
    module = EmulatorHarness(ModuleEngine(radio=config.radio))
    module.send(b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r")
    assert module.send(b"D0=PRINTER.lab\r") == b"\r\n127.0.0.5\r\nOK\r\n> "
    assert module.send(b"D0=localhost\r").startswith(b"\r\n[DNS  LU] Host not found localhost:")


def test_dns_defaults_forward_with_an_empty_table() -> None:
    assert parse_config("[dns]\n").radio.dns == Dns()
    assert parse_config('[dns]\nhosts = { a = "127.0.0.1" }\n').radio.dns.forward


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[access_points]]\nssid = "a"\nbssid = "zz"\n', ":3: access_points[0].bssid: not a MAC"),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\n\n'
            '[[access_points]]\nssid = "b"\nbssid = "02:00:00:00:00:02"\nrssi = 20\n',
            ":8: access_points[1].rssi: must be between -100 and 0, not 20",
        ),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\nsecurity = "wpa9"\n',
            ":4: access_points[0].security: unknown security 'wpa9'",
        ),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\nsecurity = "wpa2"\n',
            ":1: access_points[0].passphrase: required",
        ),
        (
            '[[access_points]]\nbssid = "02:00:00:00:00:01"\n',
            ":1: access_points[0].ssid: missing",
        ),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\n'
            'dhcp = { ip = "10.0.0.300" }\n',
            ":4: access_points[0].dhcp.ip: not an IPv4 address",
        ),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\nchanel = 3\n',
            ":4: access_points[0].chanel: unknown field",
        ),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\n'
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:02"\n',
            ":5: access_points[1].ssid: 'a' appears twice",
        ),
        ("[module]\n\nmac = 12\n", ":3: module.mac: must be str, not 12"),
        ("[radio]\njoin_time_ms = -1\n", ":2: radio.join_time_ms: must be between 0 and 60000"),
        ('[firmware]\nname = "C9"\n', ":2: firmware.name: unknown firmware 'C9'"),
        ("[firmware]\nmessage_type = 5\n", ":1: firmware: message_type must be 0 or 1"),
        ('[firmware]\nfold_command_case = "yes"\n', ":2: firmware.fold_command_case: must be bool"),
        ("[firmware]\nasync_scan = true\n", ":2: firmware.async_scan: unknown field"),
        ('[firmware]\nmulti_accept_port = "both"\n', ":2: firmware.multi_accept_port: must be"),
        ('[firmware]\nlink = "spi"\n', ":2: firmware.link: unknown field"),
        (
            '[[events]]\nat = 1\nssid = "ghost"\naction = "vanish"\n',
            ":3: events[0].ssid: no access point 'ghost'",
        ),
        (
            '[[access_points]]\nssid = "a"\nbssid = "02:00:00:00:00:01"\n'
            '[[events]]\nat = 1\nssid = "a"\naction = "explode"\n',
            ":7: events[0].action: must be 'vanish' or 'appear'",
        ),
        ('[[stations]]\nmac = "nope"\n', ":2: stations[0].mac: not a MAC"),
        (
            '[dns]\nhosts = { "printer.lab" = "127.0.0.500" }\n',
            ":2: dns.hosts.\"printer.lab\": not an IPv4 address: '127.0.0.500'",
        ),
        (
            '[module]\nname = "x"\n\n[dns.hosts]\nnas = "::1"\n',
            ":5: dns.hosts.nas: not an IPv4 address: '::1'",
        ),
        ("[dns]\nhosts = { nas = 5 }\n", ":2: dns.hosts.nas: not an IPv4 address: 5"),
        (
            '[dns]\nhosts = { printer.lab = "127.0.0.5" }\n',
            ":2: dns.hosts.printer: must be an IPv4 address string (quote names with dots",
        ),
        (
            '[dns]\nhosts = { "a.lab" = "127.0.0.5", "A.Lab" = "127.0.0.6" }\n',
            ":2: dns.hosts.\"A.Lab\": same name as 'a.lab' (names are case-insensitive)",
        ),
        ('[dns]\nhosts = { "a b" = "127.0.0.5" }\n', ':2: dns.hosts."a b": not a host name'),
        (
            "[dns]\nhosts = { " + "a" * 65 + ' = "127.0.0.5" }\n',
            f":2: dns.hosts.{'a' * 65}: not a host name (at most 64",
        ),
        (
            '[dns]\nhosts = { "10.0.0.1" = "127.0.0.5" }\n',
            ':2: dns.hosts."10.0.0.1": an address, not a name',
        ),
        ("[dns]\nhosts = 3\n", ":2: dns.hosts: must be a table"),
        ('[dns]\nforward = "no"\n', ":2: dns.forward: must be bool, not 'no'"),
        (
            "[dns]\nforwarding = false\n",
            ":2: dns.forwarding: unknown field (known: forward, hosts)",
        ),
        ("wifi = 3\n", ":1: wifi: unknown field"),
        ("access_points = 3\n", ": access_points: must be an array of tables"),
        ("[module\n", "Expected ']'"),
    ],
)
def test_bad_files_name_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="lab.toml")
    assert str(info.value).startswith("lab.toml")
    assert message in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read radio file"):
        load_config(tmp_path / "missing.toml")
