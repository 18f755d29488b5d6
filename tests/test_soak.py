"""A few seconds of the soak in the normal suite, so it keeps working (``make soak`` runs it
for a minute or longer)."""

from __future__ import annotations

import random

import pytest

from eswifi import soak
from eswifi.cli.main import main

pytestmark = pytest.mark.timeout(60)


@pytest.mark.subprocess
def test_short_soak_is_clean_and_does_everything() -> None:
    report = soak.soak(4.0, seed=1, log=lambda line: None)
    assert report.ok, report.lines()
    counts = report.counts
    assert counts.resets >= 2 and counts.reattaches >= 2 and counts.next_client >= 1
    assert counts.echo_bytes > 0 and counts.churn_connects > 0 and counts.datagrams_sent > 0
    assert report.before.fds > 0 and report.after.fds <= report.before.fds + soak.FD_TOLERANCE


def test_datagram_check_sees_a_changed_byte() -> None:
    good = soak.datagram(7, random.Random(0))
    assert soak.datagram_intact(good)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    assert not soak.datagram_intact(bad)


def test_soak_needs_a_positive_duration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["soak", "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().out
