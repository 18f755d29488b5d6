"""The one exception tree of the eswifi distribution.

::

    EsWifiError
    ├── ProtocolError
    │   ├── LocalProtocolError   a sans-I/O object was misused (second command in flight …)
    │   └── RemoteProtocolError  the other side sent bytes that break the grammar
    ├── CommandError             the module answered ERROR (carries command and reply)
    ├── ConfigError (+ValueError) a radio/profile/CLI setting is invalid
    ├── LinkError                the host link failed
    │   ├── LinkTimeout (+TimeoutError)
    │   ├── LinkClosed  (+ConnectionError)
    │   ├── LinkRefused (+ConnectionRefusedError)  nothing listens at a socket:// address
    │   └── ConsoleBusy              another host is attached to the emulator's console
    └── SocketError (+OSError)   raised by the client's socket facade
        ├── SocketTimeout     (+TimeoutError)
        ├── WouldBlock        (+BlockingIOError)
        ├── NameResolutionError (+socket.gaierror)
        ├── ConnectionRefused (+ConnectionRefusedError)
        └── ConnectionReset   (+ConnectionResetError)

The socket classes are built like ``OSError``: ``SocketError(errno.EMFILE, "text")`` sets
``errno`` and ``strerror``, so code written for CPython sockets can inspect them unchanged.
"""

from __future__ import annotations

import socket


class EsWifiError(Exception):
    """Base of every exception raised by eswifi."""


class ProtocolError(EsWifiError):
    """The AT protocol was violated, by us or by the other side."""


class LocalProtocolError(ProtocolError):
    """A sans-I/O object was driven in a way its protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The other side sent bytes that do not fit the AT grammar."""


class CommandError(EsWifiError):
    """The module answered a command with ERROR."""

    def __init__(self, command: bytes, reply: bytes, message: str = "") -> None:
        self.command = command
        self.reply = reply
        self.message = message
        text = message or "module answered ERROR"
        super().__init__(f"{command.decode('latin-1')!r}: {text}")


class ConfigError(EsWifiError, ValueError):
    """A configuration value (radio file, firmware profile, CLI option) is invalid."""


class CredentialError(EsWifiError, ValueError):
    """Uploaded TLS material (CA, certificate, private key) cannot be used."""


class LinkError(EsWifiError):
    """The host link (serial port, pty, TCP console) failed."""


class LinkTimeout(LinkError, TimeoutError):
    """The module did not answer in time."""


class LinkClosed(LinkError, ConnectionError):
    """The host link was closed."""


class LinkRefused(LinkError, ConnectionRefusedError):
    """Nothing listens at the address of a ``socket://`` link."""


class ConsoleBusy(LinkError):
    """The emulator's console already serves another host and refused this one."""


class SocketError(EsWifiError, OSError):
    """An error of the client's socket facade; behaves like the stdlib's OSError."""


class SocketTimeout(SocketError, TimeoutError):
    """A socket operation timed out."""


class WouldBlock(SocketError, BlockingIOError):
    """A non-blocking socket operation could not complete at once (errno EAGAIN)."""


class NameResolutionError(SocketError, socket.gaierror):
    """The module could not resolve a host name (``D0`` failed); a ``socket.gaierror``."""


class ConnectionRefused(SocketError, ConnectionRefusedError):
    """The remote end refused the connection."""


class ConnectionReset(SocketError, ConnectionResetError):
    """The connection was lost (the module answered -1)."""
