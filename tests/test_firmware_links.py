"""Every firmware profile on every link the CLI accepts: complete replies, scans that end.

A host waiting for the prompt must never wait for nothing. For each ``--firmware`` ×
``--link`` combination: every command answers with a reply ending in the prompt; ``F0=2``
followed by ``MR`` ends the way Mbed's and ST's scan loops expect; asynchronous messages
arrive as the link delivers them (pushed with their own prompt on UART, one per ``MR``
reply on SPI).
"""

from __future__ import annotations

import itertools
import re

import pytest
import serial

from eswifi.emulator.config import EmulatorConfig
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.profile import PROFILES, LinkProfile
from eswifi.testing import EmulatorHarness, EmulatorProcess
from eswifi.wire.commands import COMMANDS
from eswifi.wire.framing import OK_TERMINATOR, PROMPT

COMBINATIONS = list(itertools.product(sorted(PROFILES), LinkProfile))
"""What ``eswifi emulate --firmware NAME --link LINK`` accepts."""
IDS = [f"{name}-{link.value}" for name, link in COMBINATIONS]
SSIDS = ["eswifi-lab", "eswifi-open"]
JOIN = b"C1=eswifi-lab\rC2=eswifi-pass\rC3=3\rC0\r"
MAX_LOOPS = 50
"""Bound of every host loop below; a loop that reaches it is a host that never ends."""


def module_for(name: str, link: LinkProfile) -> EmulatorHarness:
    """The module ``eswifi emulate --firmware name --link link`` runs."""
    profile = EmulatorConfig().profile(link=link, name=name)
    module = EmulatorHarness(ModuleEngine(profile=profile))
    module.attach()
    return module


def unpadded(reply: bytes, link: LinkProfile) -> bytes:
    """A reply without its SPI padding (which must make it even)."""
    if link is LinkProfile.SPI:
        assert len(reply) % 2 == 0, reply
        return reply.rstrip(b"\x15")
    return reply


def answer(module: EmulatorHarness, command: bytes, link: LinkProfile) -> bytes:
    """Send one command; wait (virtual time, bounded) until its reply ends in the prompt."""
    reply = module.send(command)
    for _ in range(MAX_LOOPS):
        if unpadded(reply, link).endswith(PROMPT):
            return unpadded(reply, link)
        reply += module.advance(1.0)
    raise AssertionError(f"{command!r} never ended with the prompt: {reply!r}")


def version(reply: bytes) -> str:
    return reply[2:].split(b"\r")[0].split(b",")[1].decode()


# ----------------------------------------------------------------------------- every command


FORMS = [
    b"P2=8080\rP5=1\r",
    b"P2=8080\rP5=11\rP5=10\r",
    b"P2=8080\rP5=1\rP7=1\rP7=2\rP7=3\rP7=0\r",
    b"P3=127.0.0.1\rP4=9\rP6=1\r",
    b"P1=1\rP3=127.0.0.1\rP4=9\rP6=1\rS3=5\rhello",
    b"S3=5\rhello",
    b"R0\r",
    b"R4\r",
    b"D0=nowhere.lab\r",
    b"T1=127.0.0.1\rT2=2\rT0\r",
    b"A0\r",
    b"AD\rAE\r",
    b"F0\r",
    b"U2=9600\rU0\r",
    b"MT=0\rP1=9\r",
    b"$$$\rZR\r",
    b"ZR\r",
]
"""Argument forms drivers send, each line answered before the next is sent."""


@pytest.mark.parametrize(("name", "link"), COMBINATIONS, ids=IDS)
def test_every_command_ends_with_the_prompt(name: str, link: LinkProfile) -> None:
    bare = [code.encode() + b"\r" for code in COMMANDS]
    for script in bare + FORMS:
        for joined in (False, True):
            module = module_for(name, link)
            if joined:
                assert answer(module, JOIN, link).endswith(OK_TERMINATOR)
            for line in commands_of(script):
                # ZR's "\r\nReset" has no prompt: the boot prompt after the reboot ends it.
                answer(module, line, link)
            # A reset announced with OK (human mode) boots meanwhile; late output ends too.
            late = unpadded(module.advance(2.0), link)
            assert not late or late.endswith(PROMPT), (script, late)
            assert answer(module, b"I?\r", link).endswith(OK_TERMINATOR), script


def commands_of(script: bytes) -> list[bytes]:
    """Split a script into command lines, keeping an S3 payload with its line."""
    lines = []
    rest = script
    while rest:
        line, _, rest = rest.partition(b"\r")
        if line.startswith(b"S3="):
            count = int(line[3:])
            line, rest = line + b"\r" + rest[:count], rest[count:]
            lines.append(line)
        else:
            lines.append(line + b"\r")
    return lines


# ----------------------------------------------------------------------------- scans


def mbed_scan(module: EmulatorHarness, link: LinkProfile) -> list[str] | None:
    """Mbed ISM43362::scan: F0=2 when the version is 3525 or later, then one line per
    reply and MR for the next, until a line starting with OK (None: ERROR)."""
    fw = version(answer(module, b"I?\r", link))
    number = int(re.sub(r"\D", "", fw.split(".STM")[0]))
    one_by_one = number >= 3525
    pending = module.send(b"F0=2\r" if one_by_one else b"F0\r") + module.advance(5)
    found: list[str] = []
    for _ in range(MAX_LOOPS):
        lines = [line for line in re.split(rb"[\r\n]", pending.strip(b"\x15")) if line]
        assert lines, "Mbed would wait for a line that never comes"
        line = lines[0]
        if one_by_one and line.startswith(b"ERROR"):
            return None
        if one_by_one and line.startswith(b"OK"):
            return found
        fields = line.split(b",")
        if len(fields) >= 9:
            found.append(fields[1].strip(b'"').decode())
        if not one_by_one:
            return found
        pending = module.send(b"MR\r")  # Mbed flushes the rest of the reply first
    raise AssertionError("Mbed's scan loop never ends")


def st_scan(module: EmulatorHarness, link: LinkProfile) -> list[str] | None:
    """ST ES_WIFI_ListAccessPoints: F0=2 + MR when FW_Rev >= 3.5.2.5, each reply one AP,
    until a reply holding "\\r\\nOK\\r\\n> " (None: one holding "\\r\\nERROR")."""
    fw = version(answer(module, b"I?\r", link))
    parts = [int(re.match(r"\d*", p).group() or 0) for p in fw[1:].split(".")[:4]]
    if parts < [3, 5, 2, 5]:
        reply = answer(module, b"F0\r", link)
        return [line.split(b",")[1].strip(b'"').decode() for line in reply.split(b"\r\n#")[1:]]
    reply = module.send(b"F0=2\r") + module.advance(5)
    found: list[str] = []
    for _ in range(MAX_LOOPS):
        data = unpadded(reply, link)
        if link is LinkProfile.UART:
            assert data.endswith(PROMPT), f"a UART host waits for its timeout: {data!r}"
        if OK_TERMINATOR in data:
            return found
        if b"\r\nERROR" in data:
            return None
        found.append(data[2:].split(b",")[1].strip(b'"').decode())
        reply = module.send(b"MR\r")
    raise AssertionError("ST's scan loop never ends")


@pytest.mark.parametrize(("name", "link"), COMBINATIONS, ids=IDS)
def test_driver_scan_loops_end(name: str, link: LinkProfile) -> None:
    mbed = mbed_scan(module_for(name, link), link)
    st = st_scan(module_for(name, link), link)
    if link is LinkProfile.SPI:
        # F0=2 gives one access point per reply and MR the next: both drivers get all.
        assert mbed == st == SSIDS
    else:
        # The UART build has no MR: F0=2 answers every entry in one OK reply. ST takes the
        # OK as the end (its UART build then lists nothing); Mbed (an SPI-only driver)
        # parses the first entry and stops at MR's ERROR.
        assert (mbed, st) == (None, [])


@pytest.mark.parametrize(("name", "link"), COMBINATIONS, ids=IDS)
def test_scan_bytes_by_link(name: str, link: LinkProfile) -> None:
    module = module_for(name, link)
    entry = (
        b'\r\n[SOMA]#001,"eswifi-lab",02:E5:00:00:00:01,-48,54.0,Infrastructure,WPA2 AES,'
        b"2.4GHz,6[EOMA]"
    )
    first = module.send(b"F0=2\r")
    if link is LinkProfile.SPI:
        assert unpadded(first, link) == entry + b"\r"  # CR alone, no OK, no prompt
        assert unpadded(module.send(b"MR\r"), link).startswith(b'\r\n[SOMA]#002,"eswifi-open"')
        assert unpadded(module.send(b"MR\r"), link) == OK_TERMINATOR
        assert unpadded(module.send(b"MR\r"), link) == b"\r\n[SOMA][EOMA]" + OK_TERMINATOR
    else:
        assert first.startswith(entry + b'\r\n[SOMA]#002,"eswifi-open"')
        assert first.endswith(b"[EOMA]" + OK_TERMINATOR)
        assert module.send(b"MR\r") == b"\r\n\r\nERROR\r\n> "


# ----------------------------------------------------------------------------- async messages


def async_messages(module: EmulatorHarness, link: LinkProfile, pushed: bytes) -> list[bytes]:
    """The asynchronous messages a host sees: pushed lines (UART) or MR until empty (SPI),
    checking each one's framing."""
    messages = []
    if link is LinkProfile.UART:
        for chunk in pushed.split(PROMPT)[:-1]:
            assert chunk.startswith(b"\r\n[")
            messages.append(chunk[2:].removesuffix(b"\r\nOK"))
        assert pushed.endswith(PROMPT) or not pushed
        return messages
    assert pushed == b""  # nothing is pushed on SPI
    for _ in range(MAX_LOOPS):
        reply = unpadded(module.send(b"MR\r"), link)
        # Zephyr: starts with [SOMA], strip six bytes each end; stm32duino splits on spaces.
        assert reply.startswith(b"\r\n[SOMA]") and reply.endswith(b"[EOMA]" + OK_TERMINATOR)
        message = reply[len(b"\r\n[SOMA]") : -len(b"[EOMA]" + OK_TERMINATOR)]
        assert b"\r" not in message and b"\n" not in message, reply
        if not message:
            return messages
        messages.append(message)
    raise AssertionError("the MR queue never empties")


@pytest.mark.parametrize(("name", "link"), COMBINATIONS, ids=IDS)
def test_async_messages_by_link(name: str, link: LinkProfile) -> None:
    module = module_for(name, link)
    answer(module, JOIN, link)
    answer(module, b"P2=8080\r", link)
    assert answer(module, b"P5=11\r", link).endswith(OK_TERMINATOR)
    module.network.connect("127.0.0.1", 8080, source=("10.0.0.9", 40009))
    pushed = module.output()
    for line in (b"P0=1\r", b"P1=1\r", b"P2=9000\r"):
        answer(module, line, link)
    assert answer(module, b"P5=1\r", link).endswith(OK_TERMINATOR)
    module.network.udp_peer("10.0.0.8", 5353).sendto(b"hi", "127.0.0.1", 9000)
    pushed += module.output()
    module.engine.set_ap_present("eswifi-lab", False, now=module.now)
    pushed += module.output()
    module.engine.set_ap_present("eswifi-lab", True, now=module.now)
    pushed += module.output()
    assert async_messages(module, link, pushed) == [
        b"[TCP SVR] Accepted 10.0.0.9:40009",
        b"[UDP SVR] Accepted 10.0.0.8:5353",
        b"[INFO   ] Link Down",
        b"[INFO   ] Link Up",
    ]
    assert answer(module, b"CS\r", link) == b"\r\n1" + OK_TERMINATOR


@pytest.mark.parametrize(("name", "link"), COMBINATIONS, ids=IDS)
def test_soft_ap_messages_by_link(name: str, link: LinkProfile) -> None:
    module = module_for(name, link)
    assert answer(module, b"AD\r", link).endswith(OK_TERMINATOR)
    assert module.engine.station_join("AC:72:89:55:CE:36", now=module.now)
    messages = async_messages(module, link, module.output())
    assert len(messages) == 1
    assert messages[0].startswith(b"[AP DHCP] Assigned AC:72:89:55:CE:36 has ")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_link_events_end_with_ok_only_when_pushed(name: str) -> None:
    uart = module_for(name, LinkProfile.UART)
    answer(uart, JOIN, LinkProfile.UART)
    uart.engine.set_ap_present("eswifi-lab", False, now=uart.now)
    expected = PROFILES[name].link_events_end_with_ok
    assert uart.output() == b"\r\n[INFO   ] Link Down" + (b"\r\nOK" if expected else b"") + PROMPT


# ----------------------------------------------------------------------------- the real CLI


def read_data_phase(port: serial.SerialBase) -> bytes:
    """Read one SPI reply of a scan (an entry, or the final OK), leading pads dropped."""
    data = b""
    while not data.endswith((b"[EOMA]\r", OK_TERMINATOR)):
        byte = port.read(1)
        assert byte, f"timed out with {data!r}"
        data += byte
        assert len(data) < 4096, data
    return data.lstrip(b"\x15")  # the previous reply's pad


@pytest.mark.subprocess
@pytest.mark.parametrize(("name", "link"), COMBINATIONS, ids=IDS)
def test_scan_over_the_console_ends(name: str, link: LinkProfile) -> None:
    """The issue's two hosts through `eswifi emulate`: UART waits for prompts, SPI loops MR."""
    args = ("--listen", "127.0.0.1:0", "--firmware", name, "--link", link.value)
    spi = link is LinkProfile.SPI
    with EmulatorProcess(*args) as emulator:
        with serial.serial_for_url(emulator.url, timeout=10) as port:
            # Whatever came first (the SPI greeting), the I? reply is the last thing read.
            port.write(b"I?\r\n")
            info = port.read_until(b"Inventek eS-WiFi" + OK_TERMINATOR)
            assert info.endswith(b"Inventek eS-WiFi" + OK_TERMINATOR), info
            port.write(b"F0=2\r\n" if spi else b"F0=2\r")
            if not spi:
                reply = port.read_until(PROMPT)
                assert reply.endswith(b"[EOMA]" + OK_TERMINATOR), reply
                assert reply.count(b"[SOMA]#") == len(SSIDS)
            else:
                entries = []
                for _ in range(MAX_LOOPS):
                    reply = read_data_phase(port)
                    if reply.endswith(OK_TERMINATOR):
                        assert reply == OK_TERMINATOR
                        break
                    assert reply.startswith(b"\r\n[SOMA]#")
                    entries.append(reply.split(b",")[1])
                    port.write(b"MR\r\n")
                assert entries == [b'"%s"' % ssid.encode() for ssid in SSIDS]
        assert emulator.stop() == 0
        assert emulator.errors() == ""
