"""``eswifi soak``: run the leak and integrity soak against a real emulator subprocess."""

from __future__ import annotations

import argparse

from eswifi import soak


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``soak`` subcommand."""
    parser = subparsers.add_parser(
        "soak",
        help="stress a real emulator for a while and check it leaks nothing",
        description="Run eswifi emulate under console re-attaches, ZR resets, accept churn, "
        "peers resetting mid-transfer, a flooding peer and a UDP storm, all at once on "
        "loopback; check data with SHA-256 and the emulator's fds and VmRSS before and "
        "after. Exits 1 when anything was lost, changed or leaked.",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default: 60)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the soak's random choices (default: 0)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        print("eswifi soak: --seconds must be positive")
        return 2
    report = soak.soak(args.seconds, seed=args.seed, log=lambda line: print(line, flush=True))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
