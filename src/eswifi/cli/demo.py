"""``eswifi demo``: the reference session."""

from __future__ import annotations

import argparse
import sys

from eswifi.demo import run_demo
from eswifi.testing.launch import EmulatorProcess


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the application note's multi-accept session and check every reply",
        description="Start an emulated module (or use --url), drive the application note's "
        "multi-accept TCP server session with two real TCP clients, print the transcript and "
        "exit 1 if any reply differs from the protocol reference.",
    )
    parser.add_argument("--url", help="drive this module instead (any pyserial URL or device)")
    parser.add_argument("--pty", action="store_true", help="start the emulator on a pty link")
    parser.add_argument("--port", type=int, default=5024, help="server port P2 (default 5024)")
    parser.add_argument("--ssid", default="eswifi-lab", help="network to join (default eswifi-lab)")
    parser.add_argument(
        "--passphrase", default="eswifi-pass", help="its passphrase (default eswifi-pass)"
    )
    parser.add_argument("--raw", action="store_true", help="show replies as escaped bytes")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    options = dict(port=args.port, ssid=args.ssid, passphrase=args.passphrase, raw=args.raw)
    try:
        if args.url:
            return run_demo(args.url, **options)
        with EmulatorProcess(*(("--pty",) if args.pty else ())) as emulator:
            print(f"# emulator started, link {emulator.url}")
            return run_demo(emulator.url, **options)
    except (OSError, TimeoutError, RuntimeError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
