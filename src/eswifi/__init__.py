"""eswifi: a virtual Inventek eS-WiFi (ISM43362) module and a socket client for its AT commands."""

from eswifi.errors import (
    CommandError,
    EsWifiError,
    LinkClosed,
    LinkError,
    LinkTimeout,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)

__version__ = "0.1.0"

__all__ = [
    "CommandError",
    "EsWifiError",
    "LinkClosed",
    "LinkError",
    "LinkTimeout",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "__version__",
]
