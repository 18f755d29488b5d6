"""Command handlers, one module per command family.

A handler is ``handler(module, command) -> Done | Wait | ReadPayload``: a pure function of
the engine's state and the parsed command line. Handlers change state through the engine's
helpers and ask for network work with ``module.emit``; they never perform I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from eswifi.emulator.handlers import (
    access_point,
    clients,
    data,
    lookup,
    servers,
    system,
    tls,
    transport,
    uart,
    wifi,
)
from eswifi.emulator.outcomes import Handler

ALL_HANDLERS: Mapping[str, Handler] = {
    **transport.HANDLERS,
    **servers.HANDLERS,
    **clients.HANDLERS,
    **tls.HANDLERS,
    **data.HANDLERS,
    **wifi.HANDLERS,
    **system.HANDLERS,
    **lookup.HANDLERS,
    **access_point.HANDLERS,
    **uart.HANDLERS,
}
"""Every built-in handler by wire code."""
