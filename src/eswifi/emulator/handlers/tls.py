"""TLS settings and the certificate store: P9, PA, PB, PE, PF, PG (docs/protocol.md §2.3).

Certificates and keys are uploaded with ``PG`` into one of three credential sets and live
only in the engine's memory. ``PF`` chooses the set a socket's TLS connection (P1=3,
P6=1) uses; ``P9``/``PA``/``PB`` say how the server's certificate is checked.
"""

from __future__ import annotations

from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args
from eswifi.emulator.handlers.transport import set_registers
from eswifi.emulator.outcomes import OK, Done, Outcome, ReadPayload, error, value
from eswifi.emulator.state import CREDENTIAL_SETS, CredentialSet
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

MAX_CREDENTIAL = 8192
"""Largest PG upload (bytes)."""
MAX_CA_NAME = 63
ITEMS = ("ca", "certificate", "key")
"""PG types 0, 1, 2."""
MATCH = b"\r\n[CERTS   ] Match"
"""What PG prints when the upload equals what the set already holds."""


def set_verify(module: ModuleEngine, command: CommandLine) -> Outcome:
    mode = args.integer(command, 0, 0, 2) if len(command.args) == 1 else None
    return error(ErrorCode.BAD_ARGUMENT) if mode is None else set_registers(module, tls_verify=mode)


def set_custom_ca(module: ModuleEngine, command: CommandLine) -> Outcome:
    enable = args.integer(command, 0, 0, 1)
    if enable is None or len(command.args) > 2:
        return error(ErrorCode.BAD_ARGUMENT)
    name = module.slot.registers.custom_ca_name
    if len(command.args) == 2:
        given = args.text(command, 1, MAX_CA_NAME)
        if given is None:
            return error(ErrorCode.BAD_ARGUMENT)
        name = given.strip()
    if enable and not name:
        return error(ErrorCode.INSUFFICIENT_ARGUMENTS)
    return set_registers(module, custom_ca=bool(enable), custom_ca_name=name)


def set_verify_action(module: ModuleEngine, command: CommandLine) -> Outcome:
    action = args.integer(command, 0, 0, 1) if len(command.args) == 1 else None
    if action is None:
        return error(ErrorCode.BAD_ARGUMENT)
    return set_registers(module, tls_report_only=bool(action))


def show_credentials(module: ModuleEngine, command: CommandLine) -> Outcome:
    """``PE``: per set, 0 when it holds anything; ``PE=<set>``: CA, cert, key (0 used, 1 free)."""
    sets = module.credentials.sets
    if not command.args:
        return value(",".join("0" if _used(s) else "1" for s in sets))
    index = args.integer(command, 0, 0, CREDENTIAL_SETS - 1) if len(command.args) == 1 else None
    if index is None:
        return error(ErrorCode.BAD_ARGUMENT)
    chosen = sets[index]
    return value(",".join("0" if getattr(chosen, item) else "1" for item in ITEMS))


def _used(credentials: CredentialSet) -> bool:
    return any(getattr(credentials, item) for item in ITEMS)


def select_credentials(module: ModuleEngine, command: CommandLine) -> Outcome:
    kind = args.integer(command, 0, 0, 1)
    index = args.integer(command, 1, 0, CREDENTIAL_SETS - 1)
    if kind is None or index is None or len(command.args) != 2:
        return error(ErrorCode.BAD_ARGUMENT)
    return set_registers(module, credential_kind=kind, credential_set=index)


def upload_credential(module: ModuleEngine, command: CommandLine) -> Outcome:
    """``PG=<set>,<0 CA|1 cert|2 key>,<len>\\r<len bytes>``; length 0 erases the item."""
    index = args.integer(command, 0, 0, CREDENTIAL_SETS - 1)
    kind = args.integer(command, 1, 0, len(ITEMS) - 1)
    length = args.integer(command, 2, 0, MAX_CREDENTIAL)
    if index is None or kind is None or length is None or len(command.args) != 3:
        return error(ErrorCode.BAD_ARGUMENT)
    target = module.credentials.sets[index]
    item = ITEMS[kind]

    def store(payload: bytes, complete: bool) -> Done:
        if not complete:
            return error()
        if payload and getattr(target, item) == payload:
            return Done(text=MATCH)
        setattr(target, item, payload)
        return OK

    timeout = module.slot.registers.send_timeout_ms  # read like S3's payload
    return ReadPayload(length=length, timeout_ms=timeout, then=store)


HANDLERS = {
    "P9": set_verify,
    "PA": set_custom_ca,
    "PB": set_verify_action,
    "PE": show_credentials,
    "PF": select_credentials,
    "PG": upload_credential,
}
