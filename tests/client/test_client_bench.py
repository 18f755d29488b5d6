"""The client benchmark's measurement function against a real emulator subprocess."""

from __future__ import annotations

import pytest

from eswifi.client_bench import measure_client
from eswifi.testing.launch import EmulatorProcess

pytestmark = [pytest.mark.timeout(60), pytest.mark.subprocess]


@pytest.mark.parametrize("options", [("--listen", "127.0.0.1:0"), ("--pty",)], ids=["tcp", "pty"])
def test_measure_client_moves_checked_data_both_ways(options: tuple[str, ...]) -> None:
    with EmulatorProcess(*options) as emulator:
        figures = measure_client(emulator.url, size=30_000, rounds=20)
        again = measure_client(emulator.url, size=1, rounds=1)  # already joined: no C0
    assert figures.size == 30_000 and figures.rounds == 20
    for value in (figures.recv_mb_per_s, figures.sendall_mb_per_s, figures.commands_per_s):
        assert value > 0
    assert again.size == 1


def test_measure_client_rejects_empty_runs() -> None:
    with pytest.raises(ValueError, match="positive"):
        measure_client("loop://", size=0)
    with pytest.raises(ValueError, match="positive"):
        measure_client("loop://", rounds=-1)
