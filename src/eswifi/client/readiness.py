"""Readiness checks for module sockets: a ``select.select`` look-alike and a selector.

Module sockets have no file descriptor, so the operating system cannot watch them. The
module has no data-arrived event either (docs/protocol.md §4): readiness is found by asking it —
``R0`` with a 1 ms wait for connected sockets (what it returns is kept for the next
``recv``), ``P?`` for listening ones. :func:`select` polls until something is ready or the
timeout runs out, waiting for async messages (UART) or polling ``MR`` (SPI) in between.

:class:`EsWifiSelector` offers the :class:`selectors.BaseSelector` interface over the same
check, for event loops written against ``selectors``.
"""

from __future__ import annotations

import itertools
import selectors
from collections.abc import Iterable, Mapping
from typing import Any

from eswifi.client.socket import EsWifiSocket
from eswifi.client.timeouts import Deadline, check_timeout

IDLE_SLICE = 0.05
"""Longest wait between two polls of the module."""


def select(
    rlist: Iterable[EsWifiSocket],
    wlist: Iterable[EsWifiSocket],
    xlist: Iterable[EsWifiSocket],
    timeout: float | None = None,
) -> tuple[list[EsWifiSocket], list[EsWifiSocket], list[EsWifiSocket]]:
    """Like ``select.select`` for module sockets (all of one module).

    A socket is readable when ``recv`` would return at once (data or end-of-file) or, for
    a listening socket, when ``accept`` would. Connected sockets are always writable.
    Nothing is ever reported in the exceptional list.
    """
    readers, writers, _ = list(rlist), list(wlist), list(xlist)
    timeout = check_timeout(timeout)
    everything = readers + writers
    if not everything:
        raise ValueError("select() needs at least one module socket")
    module = everything[0].module
    clock = module.channel.link.monotonic
    deadline = Deadline(clock(), timeout)
    while True:
        ready_r = [sock for sock in readers if sock._readable_now()]
        ready_w = [sock for sock in writers if sock._writable_now()]
        if ready_r or ready_w:
            return ready_r, ready_w, []
        remaining = deadline.remaining(clock())
        if remaining == 0:
            return [], [], []
        module._idle(IDLE_SLICE if remaining is None else min(IDLE_SLICE, remaining))


class EsWifiSelector(selectors.BaseSelector):
    """A :class:`selectors.BaseSelector` for module sockets.

    Keys carry a made-up ``fd`` (module sockets have none); look them up by socket.
    """

    def __init__(self) -> None:
        self._keys: dict[EsWifiSocket, selectors.SelectorKey] = {}
        self._fds = itertools.count(1_000_000)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        if not isinstance(fileobj, EsWifiSocket):
            raise ValueError(f"{fileobj!r} is not a module socket")
        if not events or events & ~(selectors.EVENT_READ | selectors.EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        if fileobj in self._keys:
            raise KeyError(f"{fileobj!r} is already registered")
        key = selectors.SelectorKey(fileobj, next(self._fds), events, data)
        self._keys[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        try:
            return self._keys.pop(fileobj)
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        self.unregister(fileobj)
        return self.register(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if not self._keys:
            return []
        if timeout is not None and timeout < 0:
            timeout = 0
        readers = [s for s, k in self._keys.items() if k.events & selectors.EVENT_READ]
        writers = [s for s, k in self._keys.items() if k.events & selectors.EVENT_WRITE]
        ready_r, ready_w, _ = select(readers, writers, [], timeout)
        ready: dict[EsWifiSocket, int] = {}
        for sock in ready_r:
            ready[sock] = ready.get(sock, 0) | selectors.EVENT_READ
        for sock in ready_w:
            ready[sock] = ready.get(sock, 0) | selectors.EVENT_WRITE
        return [(self._keys[sock], events) for sock, events in ready.items()]

    def close(self) -> None:
        self._keys.clear()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return dict(self._keys)
