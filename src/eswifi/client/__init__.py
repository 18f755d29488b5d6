"""eswifi.client: BSD sockets over the eS-WiFi module's AT commands.

Synchronous and thread-safe; talks to a real module or to the emulator over any pyserial
URL::

    from eswifi.client import Module

    with Module.open("socket://127.0.0.1:7000") as module:
        module.join("eswifi-lab", "eswifi-pass")
        with module.socket() as sock:
            sock.connect(("127.0.0.1", 8080))
            sock.sendall(b"hello")

Layers: :mod:`~eswifi.client.protocol` (sans-I/O transactions),
:mod:`~eswifi.client.link` (pyserial link + command lock), :mod:`~eswifi.client.module`
(module API), :mod:`~eswifi.client.socket` (socket facade),
:mod:`~eswifi.client.readiness` (select and selectors).
"""

from eswifi.client.answers import AccessPoint, ModuleInfo, NetworkStatus, Security
from eswifi.client.link import CommandChannel, Link, SerialLink
from eswifi.client.module import Module
from eswifi.client.protocol import ClientProtocol
from eswifi.client.readiness import EsWifiSelector, select
from eswifi.client.socket import EsWifiSocket
from eswifi.wire.replies import AsyncMessage, Reply

__all__ = [
    "AccessPoint",
    "AsyncMessage",
    "ClientProtocol",
    "CommandChannel",
    "EsWifiSelector",
    "EsWifiSocket",
    "Link",
    "Module",
    "ModuleInfo",
    "NetworkStatus",
    "Reply",
    "Security",
    "SerialLink",
    "select",
]
