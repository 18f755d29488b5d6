"""Every subcommand's --help runs, says what the command does, and is plain text."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from eswifi.cli.main import build_parser

MARKUP = re.compile(r"``|:(?:class|meth|func|mod|data|attr):|\*\*|\]\(")
"""Sphinx roles, double backticks, bold and Markdown links."""


def subcommands() -> list[str]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return sorted(action.choices)


def test_every_documented_subcommand_is_there() -> None:
    assert {"emulate", "demo", "bench", "term", "send", "radio-example"} <= set(subcommands())


@pytest.mark.subprocess
@pytest.mark.parametrize("command", [None, *subcommands()])
def test_help_runs_and_is_plain_text(command: str | None) -> None:
    argv = [sys.executable, "-m", "eswifi", *([command] if command else []), "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not MARKUP.search(result.stdout), MARKUP.search(result.stdout)
    _, _, rest = result.stdout.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert len(description.split()) >= 8, f"--help of {command} says little: {description!r}"
