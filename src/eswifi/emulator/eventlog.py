"""What the running emulator tells a person: hosts attaching, peers coming and going, OS errors.

The runtime hands :class:`EventLog` the host attaching and detaching, every effect it sends
to the network and every event the network reports; the ones worth a line become records
on the ``eswifi.emulator`` logger (hosts and peers at INFO, OS errors at WARNING). Nothing
is configured here: ``eswifi emulate -v`` sends the records to stderr.
"""

from __future__ import annotations

import logging

from eswifi.emulator import messages as m

logger = logging.getLogger("eswifi.emulator")


class EventLog:
    """Turns runtime happenings into log records; remembers addresses to name connections."""

    def __init__(self, log: logging.Logger = logger) -> None:
        self._log = log
        self._remotes: dict[int, str] = {}
        self._servers: dict[int, str] = {}

    def host_attached(self, link: str) -> None:
        self._log.info("host attached (%s)", link)

    def host_detached(self, link: str) -> None:
        self._log.info("host detached (%s)", link)

    def effect(self, effect: m.Effect) -> None:
        """A request the engine sends to the network."""
        match effect:
            case m.Listen(listener=listener, host=host, port=port):
                self._servers[listener] = f"{host}:{port}"
            case m.StopListening(listener=listener) if listener in self._servers:
                address = self._servers.pop(listener)
                self._log.info("server %d: stopped listening on %s", listener, address)
            case m.Connect(conn=conn, transport=transport, host=host, port=port):
                self._remotes[conn] = f"{host}:{port}"
                self._log.info(
                    "connection %d: %s to %s:%d", conn, transport.name.lower(), host, port
                )
            case m.CloseConnection(conn=conn, abort=abort):
                how = "aborted" if abort else "closed"
                self._log.info("connection %d: %s by the module", conn, how)
                self._remotes.pop(conn, None)

    def event(self, event: m.NetEvent) -> None:
        """A fact the network reports to the engine."""
        match event:
            case m.Listening(listener=listener):
                address = self._servers.get(listener, "?")
                self._log.info("server %d: listening on %s", listener, address)
            case m.ListenFailed(listener=listener, reason=reason):
                address = self._servers.pop(listener, "?")
                self._log.warning("server %d: cannot listen on %s: %s", listener, address, reason)
            case m.Accepted(listener=listener, conn=conn, peer_host=host, peer_port=port):
                self._remotes[conn] = f"{host}:{port}"
                self._log.info(
                    "connection %d: %s:%d connected to server %d", conn, host, port, listener
                )
            case m.AcceptFailed(listener=listener, reason=reason):
                self._log.warning("server %d: accept failed: %s", listener, reason)
            case m.Connected(conn=conn, local_port=local_port):
                remote = self._remotes.get(conn, "?")
                self._log.info(
                    "connection %d: connected to %s from port %d", conn, remote, local_port
                )
            case m.ConnectFailed(conn=conn, reason=reason):
                remote = self._remotes.pop(conn, "?")
                self._log.warning("connection %d: cannot connect to %s: %s", conn, remote, reason)
            case m.PeerClosed(conn=conn):
                remote = self._remotes.get(conn, "?")
                self._log.info("connection %d: %s closed its side", conn, remote)
            case m.ConnectionLost(conn=conn, reason=reason):
                remote = self._remotes.pop(conn, "?")
                self._log.warning("connection %d: lost %s: %s", conn, remote, reason)
            case m.SendFailed(conn=conn, reason=reason):
                remote = self._remotes.get(conn, "?")
                self._log.warning("connection %d: sending to %s failed: %s", conn, remote, reason)
            case m.ResolveFailed(reason=reason):
                self._log.info("name lookup failed: %s", reason)
