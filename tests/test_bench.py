"""``eswifi bench``: the JSON a quick run writes, and its argument checks (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eswifi.bench.report import Row

SECTIONS = {"emulator", "client", "memory", "http", "pacing"}
EMULATOR_FIGURES = {
    "P? round trip",
    "S3 host->peer, 1460-byte chunks",
    "R0 peer->host, 1460-byte chunks",
    "accept P5=11 / P5=10",
}
CLIENT_FIGURES = {"command('P?')", "sendall() through TCP", "recv() through TCP"}


def bench(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eswifi", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.timeout(180)
@pytest.mark.pty
def test_quick_run_writes_every_figure_beside_its_baseline(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    result = bench("--quick", "--json", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == 1
    assert document["settings"]["links"] == ["tcp", "pty"]
    rows = document["rows"]
    assert {row["section"] for row in rows} == SECTIONS
    for link in ("tcp", "pty"):
        names = {row["name"] for row in rows if row["link"] == link}
        assert names >= EMULATOR_FIGURES | CLIENT_FIGURES, link
    for row in rows:
        assert row["outcome"] in ("PASS", "MISS", "-")
        if row["section"] == "memory":
            assert row["extra"]["before_bytes"] > 0 and row["extra"]["after_bytes"] > 0
            continue
        assert row["value"] > 0 and row["baseline"] > 0, row
        assert row["ratio"] == pytest.approx(row["value"] / row["baseline"])
        assert row["baseline_name"]
    query = next(row for row in rows if row["name"] == "P? round trip")
    assert query["target"] == 0.85
    assert 0 < query["extra"]["p50_us"] <= query["extra"]["p99_us"]
    # The table goes to stdout, progress to stderr.
    assert "P? round trip" in result.stdout and "bench [" not in result.stdout
    assert "targets: PASS " in result.stdout
    assert "relay: P? round trips" in result.stderr


@pytest.mark.parametrize("args", [("--rounds", "0"), ("--rounds", "-5"), ("--cap", "0")])
def test_counts_must_be_positive(args: tuple[str, ...]) -> None:
    result = bench(*args, timeout=30)
    assert result.returncode == 2
    assert "must be" in result.stderr and "Traceback" not in result.stderr


def test_outcome_compares_the_ratio_with_the_target() -> None:
    def row(value: float, target: float | None) -> Row:
        return Row(
            section="emulator",
            name="x",
            link="tcp",
            unit="/s",
            value=value,
            baseline=100.0,
            baseline_name="raw",
            target=target,
        )

    assert row(85, 0.85).outcome == "PASS"
    assert row(84, 0.85).outcome == "MISS"
    assert row(84, None).outcome == "-"
