"""Name and reachability lookups: D0 (DNS) and T0–T3 (ping) (docs/protocol.md §3.1).

Both are network requests (``Resolve``/``Ping`` effects); the answer text depends only on
what the backend reports and on the deadlines, so the engine stays sans-I/O. ``D0`` asks
the radio's DNS first (:class:`~eswifi.emulator.radio.Dns`): a static name answers at
once, and with forwarding off any other name fails at once; only a forwarded name
becomes a ``Resolve`` request.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from eswifi.emulator import messages as m
from eswifi.emulator.engine import ModuleEngine
from eswifi.emulator.handlers import args, setters
from eswifi.emulator.outcomes import Done, Outcome, Wait, after, error, value
from eswifi.emulator.radio import MAX_DNS_NAME
from eswifi.wire.commands import CommandLine
from eswifi.wire.framing import ErrorCode

DNS_TIMEOUT_MS = 5_000
"""How long ``D0`` waits for the resolver before reporting the name as not found."""
PING_TIMEOUT_MS = 1_000
"""How long one echo request waits for its reply."""
MAX_NAME = MAX_DNS_NAME


def resolve(module: ModuleEngine, command: CommandLine) -> Outcome:
    name = args.text(command, 0, MAX_NAME)
    if not command.args:
        return error()
    if not name or len(command.args) > 1:
        return error(ErrorCode.BAD_ARGUMENT)
    if not module.wifi.joined:
        return error()
    return after(module.now, module.timing.dns_ms, lambda: _look_up(module, name))


def _look_up(module: ModuleEngine, name: str) -> Done | Wait:
    slot = module.slot

    def found(address: str) -> Done:
        slot.registers = replace(slot.registers, remote_host=address)
        return value(address)

    def not_found() -> Done:
        code = module.profile.dns_error_code
        return error(text=b"\r\n[DNS  LU] Host not found %s:%d" % (name.encode("latin-1"), code))

    try:
        return found(str(ipaddress.IPv4Address(name)))
    except ValueError:
        pass
    if module.faults.dns_fails():
        return not_found()
    dns = module.radio.dns
    address = dns.lookup(name)
    if address is not None:
        return found(address)
    if not dns.forward:
        return not_found()
    request = module.new_id()
    module.emit(m.Resolve(request=request, name=name, timeout_ms=DNS_TIMEOUT_MS))

    def poll(event: m.NetEvent | None) -> Done | None:
        if isinstance(event, m.Resolved) and event.request == request:
            return found(event.address)
        if isinstance(event, m.ResolveFailed) and event.request == request:
            return not_found()
        return None

    return Wait(poll=poll, on_timeout=not_found, deadline=module.now + DNS_TIMEOUT_MS / 1000)


def ping(module: ModuleEngine, command: CommandLine) -> Outcome:
    settings = module.ping_settings
    if command.args or not module.wifi.joined or settings.target == "0.0.0.0":
        return error()
    host = settings.target
    lines = bytearray()

    def echo(number: int) -> Wait:
        request = module.new_id()
        module.emit(m.Ping(request=request, host=host, timeout_ms=PING_TIMEOUT_MS))

        def record(result: str) -> Done | Wait:
            lines.extend(f"\r\n{host},{result}".encode())
            if number + 1 >= settings.count:
                return Done(text=bytes(lines))
            return after(module.now, settings.delay_ms, lambda: echo(number + 1))

        def poll(event: m.NetEvent | None) -> Done | Wait | None:
            if isinstance(event, m.PingReply) and event.request == request:
                return record(str(max(0, round(event.rtt_ms))))
            if isinstance(event, m.PingFailed) and event.request == request:
                return record("Timeout")
            return None

        return Wait(
            poll=poll,
            on_timeout=lambda: record("Timeout"),
            deadline=module.now + PING_TIMEOUT_MS / 1000,
        )

    return echo(0)


HANDLERS = {
    "D0": resolve,
    "T0": ping,
    "T1": setters.address("ping_settings", "target"),
    "T2": setters.number("ping_settings", "count", 1, 100),
    "T3": setters.number("ping_settings", "delay_ms", 0, 60_000),
}
