"""``eswifi send URL CMD…``: one-shot commands for scripts.

Each CMD is sent in turn; what each reply printed goes to stdout (one line per line,
nothing for a bare OK; ``--hex`` dumps the whole reply), an ERROR reply and async
messages seen on the way to stderr. The first ERROR stops the run. Exit status: 0 every
reply was OK, 1 the module answered ERROR, 2 bad usage, 3 the link failed (cannot open,
timeout, garbage).
"""

from __future__ import annotations

import argparse
import sys

from eswifi.cli.linecmd import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    add_link_arguments,
    describe_failure,
    hexdump,
    open_module,
    parse_typed,
    render_body,
    render_message,
    render_reply,
)
from eswifi.errors import EsWifiError

HELP = "send AT commands to a module and print the replies (exit 1 on ERROR)"
DESCRIPTION = """\
Send each CMD in turn to an eS-WiFi module (or the emulator) and print what it answered.

What each reply printed goes to stdout, one line per line (nothing for a bare OK; --hex
dumps the whole reply). Async messages seen on the way go to stderr. The first command
that fails stops the run; stderr names it and says why.

Exit status: 0 every reply was OK, 1 the module answered ERROR, 2 bad usage, 3 the link
failed (cannot open, no reply within --timeout, bytes that are not a reply), 130 Ctrl-C."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``send`` to the ``eswifi`` command line."""
    parser = subparsers.add_parser(
        "send", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    add_link_arguments(parser)
    parser.add_argument(
        "commands",
        metavar="CMD",
        nargs="+",
        help='command lines, e.g. "I?" "P0=1"; "S3 <text>" sends text (\\r \\n \\xNN escapes)',
    )
    parser.add_argument("--hex", action="store_true", help="show replies as a hex dump")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Send the commands; returns the exit status."""
    try:
        typed = [parse_typed(text) for text in args.commands]
    except ValueError as exc:
        print(f"eswifi send: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        module = open_module(args)
    except EsWifiError as exc:
        status, text = describe_failure(exc)
        print(text, file=sys.stderr)
        return status
    with module:
        module.channel.add_listener(
            lambda message: print(render_message(message), file=sys.stderr, flush=True)
        )
        for number, (text, item) in enumerate(zip(args.commands, typed, strict=True), 1):
            where = f"eswifi send: command {number} of {len(typed)} ({text!r})"
            try:
                reply = module.command(item.line, payload=item.payload, check=False)
            except EsWifiError as exc:
                status, failure = describe_failure(exc)
                print(f"{where} failed: {failure}", file=sys.stderr)
                return status
            if not reply.ok:
                print(f"{where} answered ERROR:", file=sys.stderr)
                print(render_reply(reply, hex_view=args.hex), file=sys.stderr, flush=True)
                return EXIT_ERROR
            shown = hexdump(reply.raw) if args.hex else render_body(reply)
            if shown:
                print(shown, flush=True)
    return EXIT_OK
