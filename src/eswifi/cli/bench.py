"""``eswifi bench``: argument parsing for the benchmark (:mod:`eswifi.bench`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eswifi.bench import Options, run_bench
from eswifi.bench.host import BenchError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` subcommand."""
    defaults = Options()
    parser = subparsers.add_parser(
        "bench",
        help="measure the emulator and the client library, each beside a raw baseline",
        description="Measure, in one run, the emulator (P? round trips, S3/R0 throughput, "
        "accepts) against a raw asyncio relay, the client library (command, sendall, recv) "
        "against a raw AT client, and HTTP requests through examples/http_server.py, over "
        "the TCP console and a pty. Prints a table with PASS/MISS against the targets; "
        "progress goes to stderr.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run (for CI): small counts, rough figures"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    parser.add_argument(
        "--rounds", type=_positive, help=f"P? and command() rounds (default {defaults.rounds})"
    )
    parser.add_argument(
        "--repeats", type=_positive, help=f"best of this many runs (default {defaults.repeats})"
    )
    parser.add_argument(
        "--bytes",
        type=_positive,
        dest="stream_bytes",
        help=f"bytes per S3/R0 transfer (default {defaults.stream_bytes:,})",
    )
    parser.add_argument(
        "--client-bytes",
        type=_positive,
        help=f"bytes per sendall/recv transfer (default {defaults.client_bytes:,})",
    )
    parser.add_argument(
        "--requests", type=_positive, help=f"HTTP requests (default {defaults.requests})"
    )
    parser.add_argument(
        "--cap",
        type=_seconds,
        help="seconds one raw S3/R0 transfer may take; a slower one stops there "
        f"(default {defaults.cap:g})",
    )
    parser.add_argument(
        "--link",
        choices=("tcp", "pty"),
        action="append",
        dest="links",
        help="measure only this host link (repeatable; default both)",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    options = Options.quick() if args.quick else Options()
    chosen = {
        name: getattr(args, name)
        for name in ("rounds", "repeats", "stream_bytes", "client_bytes", "requests", "cap")
        if getattr(args, name) is not None
    }
    if args.links:
        chosen["links"] = tuple(dict.fromkeys(args.links))
    options = Options(**(_fields(options) | chosen))
    try:
        return run_bench(options, json_path=args.json)
    except (BenchError, OSError, RuntimeError) as exc:
        print(f"eswifi bench: {exc}", file=sys.stderr)
        return 1


def _fields(options: Options) -> dict[str, Any]:
    return {name: getattr(options, name) for name in Options.__dataclass_fields__}
