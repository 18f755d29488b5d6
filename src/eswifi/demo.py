"""The reference demo: the application note's multi-accept session over a real link.

It drives a module (by default an emulator it starts itself) through the note's commands
in order, connects two real TCP clients one after the other, prints the transcript in the
note's style and checks every reply against the bytes of the protocol reference
(docs/protocol.md). Any difference makes :func:`run_demo` return 1.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from eswifi.client.link import CommandChannel, SerialLink
from eswifi.wire.framing import OK_TERMINATOR, PROMPT, escape
from eswifi.wire.replies import AsyncMessage

OK = re.escape(b"\r\n\r\nOK\r\n> ")
WAITING = re.escape(b"[TCP SVR] Waiting on connection ...\r\n")


@dataclass(slots=True)
class Demo:
    channel: CommandChannel
    out: TextIO
    raw: bool
    timeout: float
    failures: int = 0
    checked: int = 0

    def show(self, data: bytes) -> None:
        if self.raw:
            print(f"  {escape(data)}", file=self.out)
            return
        for line in data.decode("latin-1").split("\r\n"):
            if line and line != "> ":
                print(line, file=self.out)

    def expect(self, what: str, got: bytes, pattern: bytes) -> re.Match[bytes] | None:
        self.checked += 1
        match = re.fullmatch(pattern, got, re.DOTALL)
        if match is None:
            self.failures += 1
            print(
                f"!! {what}: reply differs from the protocol reference\n!!   got      {got!r}",
                file=self.out,
            )
            print(f"!!   expected {pattern!r}", file=self.out)
        return match

    def command(self, text: str, pattern: bytes, payload: bytes = b"") -> re.Match[bytes] | None:
        shown = text + (escape(b"\r" + payload) if payload else "")
        print(f"> {shown}", file=self.out)
        reply = self.channel.transact_line(text, payload=payload or None)
        self.show(reply.raw)
        return self.expect(text, reply.raw, pattern)

    def show_message(self, message: AsyncMessage) -> None:
        self.show(b"\r\n" + message.text + PROMPT)

    def accepted(self, client: socket.socket) -> None:
        """Wait for the module to announce ``client``."""
        ip, port = client.getsockname()[:2]
        if not self.channel.wait_messages(self.timeout):
            raise TimeoutError("the module announced no client")
        texts = [message.text for message in self.channel.take_messages()]
        self.checked += 1
        if f"[TCP SVR] Accepted {ip}:{port}".encode() not in texts:
            self.failures += 1
            print(f"!! async message: expected the Accepted line, got {texts!r}", file=self.out)


def run_demo(
    url: str,
    *,
    out: TextIO = sys.stdout,
    port: int = 5024,
    ssid: str = "eswifi-lab",
    passphrase: str = "eswifi-pass",
    timeout: float = 10.0,
    raw: bool = False,
) -> int:
    """Run the application note's session against the module at ``url``; 0 if all matched."""
    channel = CommandChannel(SerialLink.open(url), timeout=timeout)
    try:
        channel.discard()
        demo = Demo(channel=channel, out=out, raw=raw, timeout=timeout)
        channel.add_listener(demo.show_message)
        _session(demo, port=port, ssid=ssid, passphrase=passphrase, timeout=timeout)
    finally:
        channel.close()
    verdict = "all match" if not demo.failures else f"{demo.failures} differ"
    print(
        f"\ndemo: {demo.checked} replies checked against the protocol reference, {verdict}",
        file=out,
    )
    return 1 if demo.failures else 0


def _session(demo: Demo, *, port: int, ssid: str, passphrase: str, timeout: float) -> None:
    print("# join a network first", file=demo.out)
    demo.command(f"C1={ssid}", OK)
    demo.command(f"C2={passphrase}", OK)
    demo.command("C3=3", OK)
    join = demo.command(
        "C0", re.escape(f"\r\n[JOIN   ] {ssid},".encode()) + rb"([0-9.]+),0,0\r\nOK\r\n> "
    )
    if join is None:
        raise RuntimeError("the module did not join; nothing more to show")
    module_ip = join.group(1).decode()
    print("# the application note's multi-accept server", file=demo.out)
    demo.command("PK=1,3000", OK)
    demo.command("P1=0", OK)
    demo.command(f"P2={port}", OK)
    demo.command("P8=6", OK)
    setup = re.escape(b"\r\n[TCP TSK] Multi-Accept Setup\r\n") + WAITING + re.escape(OK_TERMINATOR)
    if demo.command("P5=11", setup) is None:
        raise RuntimeError("the server did not start; nothing more to show")
    for number, (reply_byte, waiting) in enumerate(((b"1", False), (b"2", True)), start=1):
        if waiting:
            demo.command("P5=10", re.escape(b"\r\n") + WAITING + re.escape(OK_TERMINATOR))
        with _client(module_ip, port, timeout) as client:
            message = f"Data from client {number}".encode()
            print(
                f"  (client {number} connects from {_name(client)} and sends {message!r})",
                file=demo.out,
            )
            client.sendall(message)
            demo.accepted(client)
            demo.command("R0", re.escape(b"\r\n" + message + OK_TERMINATOR))
            demo.command("S3=1", re.escape(b"\r\n1" + OK_TERMINATOR), payload=reply_byte)
            got = _recv_exactly(client, 1, timeout)
            print(f"  (client {number} received {got!r})", file=demo.out)
            demo.expect(f"bytes at client {number}", got, re.escape(reply_byte))
    demo.command("P5=0", re.escape(b"\r\n[TCP TSK] Killed\r\n" + OK_TERMINATOR))


@contextmanager
def _client(host: str, port: int, timeout: float) -> Iterator[socket.socket]:
    with socket.create_connection((host, port), timeout=timeout) as client:
        yield client


def _name(sock: socket.socket) -> str:
    ip, port = sock.getsockname()[:2]
    return f"{ip}:{port}"


def _recv_exactly(sock: socket.socket, count: int, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data
