"""Exit statuses every ``eswifi`` subcommand shares."""

EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT) ended the command, as a shell reports it (128 + 2)."""
