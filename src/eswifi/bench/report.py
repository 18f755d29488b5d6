"""The benchmark's figures: one row per figure beside its baseline, printed or as JSON."""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

JSON_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One figure and the baseline measured in the same run.

    ``target`` is the ratio value/baseline the figure should reach (None: no target).
    ``verdict`` overrides the ratio test (the memory row judges growth, not a ratio).
    """

    section: str
    name: str
    link: str
    unit: str
    value: float
    baseline: float | None
    baseline_name: str
    target: float | None = None
    verdict: str | None = None
    detail: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def outcome(self) -> str:
        """PASS or MISS against the target; ``-`` when the figure has none."""
        if self.verdict is not None:
            return self.verdict
        if self.target is None or self.ratio is None:
            return "-"
        return "PASS" if self.ratio >= self.target else "MISS"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["outcome"] = self.outcome
        return data


def latency(times: Sequence[float]) -> dict[str, float]:
    """Rate and the p50/p99 of one series of round-trip times (µs)."""
    ordered = sorted(times)
    return {
        "rate": len(times) / sum(times),
        "p50_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
    }


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB/s":
        return f"{value:.2f} {unit}"
    if unit == "MiB":
        return f"{value:+.1f} {unit}"
    return f"{value:,.0f}{unit}"


def print_table(rows: Sequence[Row], out: TextIO) -> None:
    """The table: each figure, its baseline, the ratio and the target's verdict."""
    header = ("figure", "link", "value", "baseline", "ratio", "target", "")
    lines = [header]
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        target = f">= {row.target:.2f}" if row.target is not None else "-"
        lines.append(
            (
                f"{row.section}: {row.name}",
                row.link,
                _number(row.value, row.unit),
                _number(row.baseline, row.unit),
                ratio,
                target,
                row.outcome,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)
        if index == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)), file=out)
    print(file=out)
    for row in rows:
        print(f"  {row.section}: {row.name} [{row.link}]: {row.detail}", file=out)
        if row.baseline is not None:
            print(f"      baseline: {row.baseline_name}", file=out)


def write_json(path: Path, rows: Sequence[Row], settings: dict[str, object]) -> None:
    """The rows and the settings they were measured with, as JSON."""
    document = {
        "version": JSON_VERSION,
        "settings": settings,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "rows": [row.to_json() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (Linux ``/proc``); None where unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None
