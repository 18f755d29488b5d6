"""``eswifi bench``: every performance figure beside a baseline measured in the same run.

Sections, each a function returning :class:`~eswifi.bench.report.Row` objects:

* :mod:`eswifi.bench.links` - per host link (TCP console, pty): the emulator's ``P?``
  round trip, ``S3``/``R0`` throughput and accept rate against the raw relay
  (:mod:`eswifi.bench.relay`), then the client library's ``command()``, ``sendall()`` and
  ``recv()`` against the raw AT client (:mod:`eswifi.bench.host`) on the same emulator,
  and the emulator's memory before and after;
* :mod:`eswifi.bench.http` - requests per second through ``examples/http_server.py``;
* :mod:`eswifi.bench.pacing` - ``--timing real``: bytes per second through the paced
  host link against the theoretical line rate.

A new section is one more entry in :func:`sections`. Ratios, not absolute figures, are
what to compare across machines: both sides of a row ran on the same loaded machine
within seconds of each other, best of ``repeats``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

from eswifi.bench.report import Row, print_table, write_json

Section = Callable[[Callable[[str], None]], list[Row]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What one run measures (``quick``: a short run for CI; figures are rough)."""

    rounds: int = 2000
    repeats: int = 5
    stream_bytes: int = 4_000_000
    client_bytes: int = 10_000_000
    accepts: int = 200
    requests: int = 100
    cap: float = 20.0
    links: tuple[str, ...] = ("tcp", "pty")
    pacing_seconds: float = 1.5

    @classmethod
    def quick(cls) -> Options:
        return cls(
            rounds=200,
            repeats=1,
            stream_bytes=146_000,
            client_bytes=146_000,
            accepts=20,
            requests=10,
            cap=5.0,
            pacing_seconds=0.3,
        )


def sections(options: Options) -> list[Section]:
    """The measurements of a run, in order."""
    from eswifi.bench.http import http_rows
    from eswifi.bench.links import Settings, link_rows
    from eswifi.bench.pacing import pacing_rows

    settings = Settings(
        rounds=options.rounds,
        repeats=options.repeats,
        stream_bytes=options.stream_bytes,
        client_bytes=options.client_bytes,
        accepts=options.accepts,
        cap=options.cap,
    )
    measured: list[Section] = [partial(link_rows, link, settings) for link in options.links]
    measured.append(lambda progress: http_rows(options.requests, progress))
    measured.append(
        lambda progress: pacing_rows(options.pacing_seconds, min(options.repeats, 3), progress)
    )
    return measured


def run_bench(
    options: Options = Options(),
    *,
    json_path: Path | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Measure every section, print the table (and write JSON); 0 unless a figure failed."""
    start = time.monotonic()

    def progress(message: str) -> None:
        print(f"bench [{time.monotonic() - start:5.1f} s] {message}", file=err, flush=True)

    rows: list[Row] = []
    for section in sections(options):
        rows += section(progress)
    progress("done")
    print_table(rows, out)
    print(f"targets: {summary(rows)}", file=out)
    if json_path is not None:
        settings = asdict(options) | {"seconds": round(time.monotonic() - start, 1)}
        write_json(json_path, rows, settings)
    return 0


def summary(rows: Sequence[Row]) -> str:
    """``PASS n, MISS m``: how the figures with a target fared."""
    outcomes = [row.outcome for row in rows if row.outcome != "-"]
    return f"PASS {outcomes.count('PASS')}, MISS {outcomes.count('MISS')}"
