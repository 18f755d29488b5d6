"""The AT command table: every code the eS-WiFi dialect knows, with its name and help.

This is the only place where wire codes are spelled out next to descriptive names. The
emulator registers a handler per code; the client uses the table for completion and help.
``usage`` is the text the module prints after ``Usage: <code> `` in MT=0 error replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Payload(Enum):
    """Whether raw bytes follow the command line, and where their length comes from."""

    NONE = "none"
    LENGTH_ARG = "length-arg"  # S3=<n>\r<n bytes>
    LAST_ARG = "last-arg"  # PG=<set>,<type>,<n>\r<n bytes>, ZO=<n>\r<url>
    S1_REGISTER = "s1"  # S0\r<S1 bytes>


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """One AT command of the module's table."""

    code: str
    """Wire code, e.g. ``"P3"``."""
    name: str
    """Descriptive name used in code and docs, e.g. ``"set_remote_host"``."""
    usage: str
    """Argument help as the module prints it after ``Usage: <code> ``."""
    summary: str
    """One line of help."""
    group: str
    """Command family: transport, receive, send, wifi, system, access-point, lookup, message,
    uart."""
    payload: Payload = Payload.NONE


def _spec(code: str, name: str, usage: str, summary: str, group: str, **kw: Payload) -> CommandSpec:
    return CommandSpec(code=code, name=name, usage=usage, summary=summary, group=group, **kw)


_TABLE: tuple[CommandSpec, ...] = (
    # Transport (docs/protocol.md §2.2, §2.3)
    _spec("P0", "select_socket", "<0-3>", "Select the current socket (no argument: show it)", "transport"),
    _spec("P1", "set_protocol", "<0=TCP/1=UDP/2=UDP-Lite/3=TCP-SSL/4=MQTT>", "Set the protocol", "transport"),
    _spec("P2", "set_local_port", "<0-65535>", "Set the local port", "transport"),
    _spec("P3", "set_remote_host", "<xxx.xxx.xxx.xxx>", "Set the remote host IP address", "transport"),
    _spec("P4", "set_remote_port", "<0-65535>", "Set the remote port", "transport"),
    _spec("P5", "server_control", "<0=Stop/1=Start/10=Next/11=Multi-Accept>", "Start or stop a server", "transport"),
    _spec("P6", "client_control", "<0=Stop/1=Start>", "Start or stop a client connection", "transport"),
    _spec("P7", "accept_loop", "<0=Kill/1=Start/2=Close/3=Next>", "Legacy accept loop control", "transport"),
    _spec("P8", "set_backlog", "<1-16>", "Set the listen backlog", "transport"),
    _spec("P9", "set_tls_verify", "<0=None/1=Optional/2=Required>", "Set TLS peer verification", "transport"),
    _spec("PA", "set_custom_ca", "<0/1>,<name>", "Use a custom CA name", "transport"),
    _spec("PB", "set_tls_verify_action", "<0=Terminate/1=Report>", "What a failed verification does", "transport"),
    _spec("PC", "upload_certificate_legacy", "<0/1>,<length>", "Upload a certificate (deprecated)", "transport", payload=Payload.LAST_ARG),
    _spec("PD", "upload_key_legacy", "<0/1>,<length>", "Upload a key (deprecated)", "transport", payload=Payload.LAST_ARG),
    _spec("PE", "show_credentials", "<set 0-2>", "Show which credential sets are filled", "transport"),
    _spec("PF", "select_credentials", "<0=TLS/1=AWS>,<set 0-2>", "Select the credential set", "transport"),
    _spec("PG", "upload_credential", "<set>,<0=CA/1=Cert/2=Key>,<length>\\r<Bytes> ", "Upload a certificate or key", "transport", payload=Payload.LAST_ARG),
    _spec("PK", "set_keepalive", "<0(Disable)/1(Enable),250-7200000 ms>", "TCP keep-alive enable and idle time", "transport"),
    _spec("PM", "set_mqtt", "<n>,<value>", "MQTT attributes", "transport"),
    _spec("PR", "set_packet_read", "<0-4>", "Legacy raw packet read mode", "transport"),
    _spec("PX", "set_streaming", "<0=Server/1=Client>,<gpio>", "UART streaming mode", "transport"),
    _spec("PY", "set_api_timeout", "<ms>", "TCP API message timeout", "transport"),
    _spec("P?", "show_transport", "", "Show the transport settings of the current socket", "transport"),
    # Receive (docs/protocol.md §2.4)
    _spec("R0", "read_data", "", "Read data from the current socket", "receive"),
    _spec("R1", "set_read_size", "<1 - 1460>", "Set the read packet size", "receive"),
    _spec("R2", "set_read_timeout", "<0 - 30000 ms>", "Set the read timeout", "receive"),
    _spec("R3", "set_read_mode", "<0=Normal/1=No Timeout/No Data message>", "Set the read delineation mode", "receive"),
    _spec("R4", "read_data_with_length", "", "Read data preceded by its length", "receive"),
    _spec("R?", "show_receive", "", "Show the read settings", "receive"),
    # Send (docs/protocol.md §2.5)
    _spec("S0", "send_data_legacy", "", "Send S1 bytes that follow", "send", payload=Payload.S1_REGISTER),
    _spec("S1", "set_send_size", "<1 - 1460>", "Set the send packet size", "send"),
    _spec("S2", "set_send_timeout", "<0 - 30000 ms>", "Set the send timeout", "send"),
    _spec("S3", "send_data", "<0001 - 1460>\\r<Bytes> ", "Send the bytes that follow", "send", payload=Payload.LENGTH_ARG),
    _spec("S?", "show_send", "", "Show the send settings", "send"),
    # Wi-Fi (docs/protocol.md §3.1)
    _spec("C0", "join", "", "Join the network", "wifi"),
    _spec("C1", "set_ssid", "<SSID>", "Set the network SSID", "wifi"),
    _spec("C2", "set_passphrase", "<Passphrase>", "Set the network passphrase", "wifi"),
    _spec("C3", "set_security", "<0=Open/1=WEP/2=WPA/3=WPA2-AES/4=WPA/WPA2/5=WPA2-TKIP>", "Set the security type", "wifi"),
    _spec("C4", "set_dhcp", "<0=Disable/1=Enable>", "Enable DHCP", "wifi"),
    _spec("C5", "set_ip_version", "<0=IPv4>", "Set the IP version", "wifi"),
    _spec("C6", "set_static_ip", "<xxx.xxx.xxx.xxx>", "Set the static IP address", "wifi"),
    _spec("C7", "set_static_mask", "<xxx.xxx.xxx.xxx>", "Set the static network mask", "wifi"),
    _spec("C8", "set_static_gateway", "<xxx.xxx.xxx.xxx>", "Set the static gateway", "wifi"),
    _spec("C9", "set_dns1", "<xxx.xxx.xxx.xxx>", "Set the primary DNS server", "wifi"),
    _spec("CA", "set_dns2", "<xxx.xxx.xxx.xxx>", "Set the secondary DNS server", "wifi"),
    _spec("CB", "set_join_retries", "<0-10>", "Set the join retry count", "wifi"),
    _spec("CC", "set_auto_connect", "<0-3>", "Set auto-connect", "wifi"),
    _spec("CD", "disconnect", "", "Leave the network", "wifi"),
    _spec("CE", "set_wep_auth", "<0=Open/1=Shared>", "Set the WEP authentication type", "wifi"),
    _spec("CN", "set_country", "<CC>[/<0|1>]", "Set the country code", "wifi"),
    _spec("CR", "show_rssi", "", "Show the RSSI of the associated AP", "wifi"),
    _spec("CS", "show_connection_status", "", "Show whether the module is joined", "wifi"),
    _spec("CV", "show_bit_rate", "", "Show the connected bit rate", "wifi"),
    _spec("C?", "show_network", "", "Show the network settings", "wifi"),
    _spec("F0", "scan", "<2=Async>", "Scan for networks", "wifi"),
    _spec("F1", "set_scan_repeat", "<count>", "Set the scan repeat count", "wifi"),
    _spec("F2", "set_scan_delay", "<ms>", "Set the scan delay", "wifi"),
    _spec("F3", "set_scan_channel", "<0-13>", "Set the scan channel", "wifi"),
    _spec("F4", "set_scan_bssid", "<xx:xx:xx:xx:xx:xx>", "Set the scan BSSID filter", "wifi"),
    _spec("F5", "set_scan_ssid", "<SSID>", "Set the scan SSID filter", "wifi"),
    _spec("F?", "show_scan", "", "Show the scan settings", "wifi"),
    # Lookups (docs/protocol.md §3.1)
    _spec("D0", "resolve", "<host name>", "Resolve a host name (result also stored in P3)", "lookup"),
    _spec("T0", "ping", "", "Ping the target", "lookup"),
    _spec("T1", "set_ping_target", "<xxx.xxx.xxx.xxx>", "Set the ping target", "lookup"),
    _spec("T2", "set_ping_count", "<count>", "Set the number of pings", "lookup"),
    _spec("T3", "set_ping_delay", "<ms>", "Set the delay between pings", "lookup"),
    # Access point (docs/protocol.md §3.1)
    _spec("A0", "start_web_config_ap", "", "Start the web-config soft AP", "access-point"),
    _spec("A1", "set_ap_security", "<0=Open/2=WPA/3=WPA2/4=Mixed>", "Set the soft-AP security", "access-point"),
    _spec("A2", "set_ap_passphrase", "<Passphrase>", "Set the soft-AP passphrase", "access-point"),
    _spec("AC", "set_ap_channel", "<0-13>", "Set the soft-AP channel", "access-point"),
    _spec("AD", "start_direct_ap", "", "Start the direct-connect soft AP", "access-point"),
    _spec("AE", "stop_direct_ap", "", "Stop the direct-connect soft AP", "access-point"),
    _spec("AL", "set_ap_lease_time", "<seconds>", "Set the soft-AP DHCP lease time", "access-point"),
    _spec("AR", "show_ap_clients", "", "Show the soft-AP clients and their RSSI", "access-point"),
    _spec("AS", "set_ap_ssid", "<0/1>,<SSID>", "Set the soft-AP SSID", "access-point"),
    _spec("AT", "set_ap_max_clients", "<1-4>", "Set the soft-AP client limit", "access-point"),
    _spec("A?", "show_ap", "", "Show the soft-AP settings", "access-point"),
    # UART (docs/protocol.md §1.6; UART builds)
    _spec("U0", "apply_uart_settings", "", "Apply the UART settings (the new rate starts after this reply)", "uart"),
    _spec("U2", "set_uart_baud", "<1200 - 3916800>", "Set the UART baud rate (applied by U0)", "uart"),
    _spec("U?", "show_uart", "", "Show the UART settings: port,baud,data bits,parity,stop bits,mode", "uart"),
    # System (docs/protocol.md §3.1)
    _spec("I?", "show_info", "", "Show the product information", "system"),
    _spec("MR", "read_message", "", "Read the next asynchronous message (SPI build)", "message"),
    _spec("MS", "set_message_suppression", "<0-3>", "Suppress asynchronous messages", "message"),
    _spec("MT", "set_message_type", "<0=Normal/1=Simple>", "Set the message type", "message"),
    _spec("Z0", "factory_reset", "", "Restore the factory settings", "system"),
    _spec("Z1", "save_settings", "", "Save the settings", "system"),
    _spec("Z2", "clear_settings", "", "Clear the saved settings", "system"),
    _spec("Z3", "select_settings_space", "<0/1>", "Choose the settings space", "system"),
    _spec("Z4", "set_mac", "<xx:xx:xx:xx:xx:xx>", "Set the MAC address", "system"),
    _spec("Z5", "show_mac", "", "Show the MAC address", "system"),
    _spec("Z6", "set_ap_ip", "<xxx.xxx.xxx.xxx>", "Set the soft-AP IP address", "system"),
    _spec("ZN", "set_product_name", "<name>", "Set the product name", "system"),
    _spec("ZO", "start_ota", "<length>\\r<URL>", "Start an over-the-air update", "system", payload=Payload.LAST_ARG),
    _spec("ZR", "reset", "", "Reset the module", "system"),
    _spec("Z?", "show_system", "", "Show the system settings", "system"),
    _spec("$$$", "enter_human_mode", "", "Enter the human-readable command mode", "system"),
    _spec("---", "leave_human_mode", "", "Leave the human-readable command mode", "system"),
    _spec("?", "help", "", "List the commands", "system"),
)

COMMANDS: Mapping[str, CommandSpec] = {spec.code: spec for spec in _TABLE}
"""Every known command, by wire code."""

MAX_LINE = 300
"""Size of the module's command line buffer (bytes, CR excluded)."""

MAX_ARGUMENT_TOKENS = 16
"""The tokenizer's limit on argument tokens."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandLine:
    """A command line split the way the firmware splits it (strtok on ``=`` and ``,``)."""

    code: str
    """The command code as typed (upper-cased first when the profile allows lower case)."""
    args: tuple[bytes, ...]
    """Argument tokens; empty tokens collapse, so ``R0=`` has none."""
    raw: bytes
    """The whole line, without CR, LF or NUL."""


def split_command_line(line: bytes, *, fold_case: bool = False) -> CommandLine:
    """Split a command line into its code and argument tokens.

    The code is the first token; a code that is not exactly in :data:`COMMANDS` is for the
    caller to reject. ``$$$``, ``---`` and ``?`` are codes of their own.
    """
    tokens = [tok for tok in _split_tokens(line) if tok]
    head = tokens[0] if tokens else b""
    code = head.decode("latin-1")
    if fold_case and len(code) >= 2:
        code = code[:2].upper() + code[2:]
    return CommandLine(code=code, args=tuple(tokens[1:]), raw=line)


def _split_tokens(line: bytes) -> list[bytes]:
    return line.replace(b",", b"=").split(b"=")


def encode_command(code: str, *args: object, payload: bytes | None = None) -> bytes:
    """Build the bytes a host sends for one command (client side).

    ``encode_command("P3", "10.0.0.2")`` → ``b"P3=10.0.0.2\\r"``; with ``payload`` the bytes
    follow the CR (S3, PG).
    """
    text = code if not args else code + "=" + ",".join(str(a) for a in args)
    data = text.encode("latin-1") + b"\r"
    return data + payload if payload is not None else data
