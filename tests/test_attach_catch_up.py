"""A host that opens the link and pulses RESET at once sees the boot output: the control
channel waits for the attach to reach the engine before it moves a pin."""

from __future__ import annotations

import os
import select
import time
import tty

import pytest

from eswifi.testing import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess, pytest.mark.pty]

WAIT = 10.0


def read_until(fd: int, end: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + WAIT
    while not data.endswith(end):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        assert ready, f"timed out with {data!r}"
        data += os.read(fd, 1024)
    return data


@pytest.mark.parametrize("link", ["uart", "spi"])
def test_pty_host_resetting_right_after_open_gets_the_boot_output(link: str) -> None:
    end = b"\r\n> "
    with EmulatorProcess("--pty", "--link", link, control=True) as module:
        for _ in range(5):
            fd = os.open(module.url, os.O_RDWR | os.O_NOCTTY)
            try:
                tty.setraw(fd)
                module.reset()  # no pause between the open and the pulse
                boot = read_until(fd, end)
            finally:
                os.close(fd)
            assert boot.endswith(b"\x15\x15\r\n> " if link == "spi" else end)
