"""``eswifi term URL``: an interactive AT terminal over any pyserial URL.

* type a command line (``P?``, ``C1=my-ssid``) and see the module's reply;
* Tab completes command codes and shows each one's help from the command table;
* up/down walk the history (``--history FILE`` keeps it across sessions);
* async messages (``[TCP SVR] Accepted …``) are printed as they arrive, polled with
  ``MR`` on an SPI link;
* ``S3 <text>`` sends text as payload (``\\r``, ``\\n``, ``\\xNN`` escapes), or type
  ``S3=<n>`` and the terminal asks for the n payload bytes;
* ``:hex`` (or F2) toggles a hex view of replies; ``:help``; ``:quit`` or Ctrl-D leaves.

The terminal has no protocol logic: :class:`Terminal` turns lines into
:meth:`~eswifi.client.Module.command` calls and replies into text; :func:`run` wraps it in
a prompt_toolkit session.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from eswifi.cli.linecmd import (
    EXIT_OK,
    add_link_arguments,
    describe_failure,
    needs_payload,
    open_module,
    parse_typed,
    render_message,
    render_reply,
)
from eswifi.client import Module
from eswifi.errors import EsWifiError, LinkError, LinkTimeout, RemoteProtocolError
from eswifi.wire.commands import COMMANDS
from eswifi.wire.framing import unescape
from eswifi.wire.replies import AsyncMessage

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document
    from prompt_toolkit.key_binding import KeyPressEvent

HELP = "interactive AT terminal (history, completion, async messages, hex view)"
DESCRIPTION = """\
An interactive AT terminal to an eS-WiFi module (or the emulator) over any pyserial URL.

  - type a command line (I?, P0=1, C1=my-ssid) and see the module's reply;
  - Tab completes command codes and shows what each one does;
  - up/down walk the history (--history FILE keeps it across sessions);
  - async messages ([TCP SVR] Accepted ...) show up as they arrive (polled with MR on
    an SPI link);
  - "S3 <text>" sends text as payload (escapes \\r \\n \\t \\\\ \\xNN), or type S3=<n> and
    the terminal asks for the n payload bytes;
  - :hex (or F2) toggles a hex view of replies; :help; :quit or Ctrl-D leaves;
  - Ctrl-C cancels the command that is running (or clears the line); a reply slower than
    --timeout is reported and the session goes on.

Exit status: 0 after :quit or Ctrl-D, 3 when the link fails or cannot be opened, 130 when
Ctrl-C interrupts the connection attempt."""
PROMPT = "eswifi> "
META_COMMANDS = {
    ":hex": "Toggle the hex view of replies (also F2)",
    ":help": "Show how to use the terminal",
    ":quit": "Leave the terminal (also Ctrl-D)",
}
USAGE = """\
Type an AT command and press Enter: I?  P0=1  C?  R0 …  (Tab completes codes)
S3 <text>   send <text> as payload; escapes \\r \\n \\t \\\\ \\xNN
S3=<n>      the terminal then asks for the n payload bytes
:hex / F2   toggle the hex view        :quit / Ctrl-D   leave
Ctrl-C      cancel the running command (or clear the line)"""


def completions(prefix: str) -> Iterator[tuple[str, str]]:
    """``(code, help)`` for every command code and meta command starting with ``prefix``."""
    wanted = prefix.upper()
    for spec in COMMANDS.values():
        if spec.code.startswith(wanted):
            usage = f"   {spec.code}={spec.usage}" if spec.usage else ""
            yield spec.code, spec.summary + usage
    for name, text in META_COMMANDS.items():
        if name.startswith(prefix.lower()):
            yield name, text


class Terminal:
    """What the terminal does with each typed line, independent of the prompt library.

    Args:
        module: the module to talk to.
        write: where text for the user goes (one call per block).
        write_message: where async messages go (they may arrive from another thread while
            the prompt waits); ``write`` by default.
    """

    def __init__(
        self,
        module: Module,
        write: Callable[[str], None],
        write_message: Callable[[str], None] | None = None,
    ) -> None:
        self.module = module
        self.write = write
        self.write_message = write_message or write
        self.hex_view = False

    def on_message(self, message: AsyncMessage) -> None:
        self.write_message(render_message(message, hex_view=self.hex_view))

    def toggle_hex(self) -> None:
        self.hex_view = not self.hex_view
        self.write_message(f"hex view {'on' if self.hex_view else 'off'}")  # F2: mid-prompt

    def handle(self, text: str, ask_payload: Callable[[int], str | None]) -> bool:
        """Act on one typed line; False means leave the terminal.

        Ctrl-C while the command runs stops waiting for its reply, and so does a reply
        slower than the link timeout; either way the session goes on.

        Raises:
            LinkError: the link is gone (the caller ends the session).
        """
        stripped = text.strip()
        if not stripped:
            return True
        if stripped.startswith(":"):
            return self._meta(stripped.lower())
        try:
            typed = parse_typed(stripped)
        except ValueError as exc:
            self.write(f"not sent: {exc}")
            return True
        payload = typed.payload
        announced = needs_payload(typed.line)
        if payload is None and announced is not None:
            entered = ask_payload(announced)
            if entered is None:
                self.write("not sent")
                return True
            try:
                payload = unescape(entered)
            except (ValueError, KeyError, IndexError):
                self.write("not sent: bad escape in the payload")
                return True
            if len(payload) != announced:
                self.write(f"not sent: {len(payload)} payload bytes, S3 announced {announced}")
                return True
        shown = typed.line.decode("latin-1")
        try:
            reply = self.module.command(typed.line, payload=payload, check=False)
        except KeyboardInterrupt:
            self.write(f"{shown}: cancelled (the module may still answer; that reply is dropped)")
            return True
        except LinkTimeout as exc:
            self.write(f"{exc}: still connected (a late reply is dropped)")
            return True
        except LinkError:
            raise
        except EsWifiError as exc:
            self.write(describe_failure(exc)[1])
            return True
        self.write(render_reply(reply, hex_view=self.hex_view))
        return True

    def _meta(self, command: str) -> bool:
        if command in (":quit", ":exit", ":q"):
            return False
        if command == ":hex":
            self.toggle_hex()
        elif command in (":help", ":h", ":?"):
            self.write(USAGE)
        else:
            self.write(f"unknown terminal command {command}; try :help")
        return True


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``term`` to the ``eswifi`` command line."""
    parser = subparsers.add_parser(
        "term", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    add_link_arguments(parser)
    parser.add_argument("--history", metavar="FILE", help="keep the command history in FILE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the terminal until the user leaves; returns the exit status."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.patch_stdout import patch_stdout

    class CommandCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterator[Completion]:
            word = document.text_before_cursor
            if any(sep in word for sep in "= ,"):
                return
            for code, text in completions(word):
                yield Completion(code, start_position=-len(word), display_meta=text)

    try:
        module = open_module(args)
    except EsWifiError as exc:
        status, text = describe_failure(exc)
        print(text, file=sys.stderr)
        return status

    stdout = sys.stdout  # the terminal itself, before patch_stdout replaces sys.stdout

    def write(text: str) -> None:
        # Between prompts, from this thread: straight to the terminal, so the text is
        # out before the next prompt is drawn.
        stdout.write(text + "\n")
        stdout.flush()

    def write_message(text: str) -> None:
        # From the watcher thread: through patch_stdout, drawn above a waiting prompt.
        print(text, flush=True)

    terminal = Terminal(module, write, write_message)
    bindings = KeyBindings()

    @bindings.add("f2")
    def _(event: KeyPressEvent) -> None:
        terminal.toggle_hex()

    session: PromptSession[str] = PromptSession(
        history=FileHistory(args.history) if args.history else InMemoryHistory(),
        completer=CommandCompleter(),
        complete_while_typing=False,
        key_bindings=bindings,
        bottom_toolbar=lambda: (
            f" {args.url} ({args.link})  hex {'on' if terminal.hex_view else 'off'}"
            "  Tab: complete  F2: hex  :help  Ctrl-D: quit"
        ),
    )
    stop = threading.Event()
    failure: list[BaseException] = []

    def watch() -> None:
        # Reads the link while the user types, so async messages show up at once.
        while not stop.is_set():
            try:
                if module.channel.spi:
                    module.messages(0.2)
                else:
                    module.channel.wait_messages(0.2)
            except LinkTimeout:
                # A module still busy with a cancelled or slow command does not answer the
                # resync yet: try again on the next round.
                continue
            except RemoteProtocolError as exc:
                write_message(f"link out of step ({exc}); resynchronising")
            except EsWifiError as exc:
                failure.append(exc)
                return

    def ask_payload(count: int) -> str | None:
        try:
            return session.prompt(f"payload ({count} bytes)> ")
        except (EOFError, KeyboardInterrupt):
            return None

    status = EXIT_OK
    with module, patch_stdout(raw=True):
        module.channel.add_listener(terminal.on_message)
        watcher = threading.Thread(target=watch, name="eswifi-term-watch", daemon=True)
        watcher.start()
        write(f"connected to {args.url}; :help for help, Ctrl-D to leave")
        try:
            while not failure:
                try:
                    text = session.prompt(PROMPT)
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                if not terminal.handle(text, ask_payload):
                    break
        except LinkError as exc:
            failure.append(exc)
        finally:
            stop.set()
            watcher.join(timeout=2)
        if failure:
            status, text = describe_failure(failure[0])
            print(text, file=sys.stderr)
    return status
