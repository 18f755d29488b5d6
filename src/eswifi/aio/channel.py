"""One command at a time over an asyncio link, on the client's sans-I/O protocol.

:class:`AioChannel` runs one reader task that feeds every byte of the link to
:class:`~eswifi.client.protocol.ClientProtocol`; replies go to the command awaiting them,
asynchronous messages to the listeners. Commands queue on a FIFO lock, so tasks take turns.

Cancellation: a command runs in its own task, shielded from its caller. A caller that is
cancelled stops waiting at once, but the command still gets its reply (or times out)
before the next one is sent, so the link stays in step. After a timeout or a malformed
reply the link is resynchronised before the next command, as the sync client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable

from eswifi.aio.link import AioLink
from eswifi.client.protocol import ClientProtocol
from eswifi.errors import LinkClosed, LinkTimeout, RemoteProtocolError
from eswifi.wire.replies import MAX_READ, AsyncMessage, Reply

DEFAULT_TIMEOUT = 10.0
"""Seconds a command waits for its reply unless told otherwise."""
RESYNC_TIMEOUT = 5.0
"""Seconds a resynchronisation may take."""
KEEP_MESSAGES = 256
"""Unread async messages kept (the oldest go first)."""


class AioChannel:
    """Commands and replies over ``link``; see the module docstring."""

    def __init__(self, link: AioLink, *, spi: bool, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.link = link
        self.protocol = ClientProtocol(spi=spi)
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[Reply] | None = None
        self._resynced: asyncio.Future[None] | None = None
        self._out_of_step = False
        self._closed: BaseException | None = None
        self._messages: deque[AsyncMessage] = deque(maxlen=KEEP_MESSAGES)
        self._message_event = asyncio.Event()
        self._listeners: list[Callable[[AsyncMessage], None]] = []
        self._resync_listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[object]] = set()
        self._random = random.Random()
        self._reader = asyncio.create_task(self._read_loop(), name=f"eswifi-aio {link.name}")

    @property
    def spi(self) -> bool:
        return self.protocol.spi

    @property
    def closed(self) -> bool:
        return self._closed is not None

    # ------------------------------------------------------------------ commands

    async def transact(
        self,
        code: str,
        *args: object,
        payload: bytes | None = None,
        timeout: float | None = None,
        read_limit: int = MAX_READ,
    ) -> Reply:
        """Send one command and return its reply (OK or ERROR alike).

        Raises:
            LinkTimeout: no reply within ``timeout`` seconds (the link resyncs next time).
            LinkClosed: the link is gone.
            RemoteProtocolError: the module's answer does not fit the grammar.
        """

        def frame() -> bytes:
            return self.protocol.send_command(code, *args, payload=payload, read_limit=read_limit)

        return await self._shielded(frame, code, timeout)

    async def transact_line(
        self,
        line: str | bytes,
        *,
        payload: bytes | None = None,
        timeout: float | None = None,
        read_limit: int = MAX_READ,
    ) -> Reply:
        """Like :meth:`transact` for a command line given as text (``"P3=10.0.0.1"``)."""

        def frame() -> bytes:
            return self.protocol.send_line(line, payload=payload, read_limit=read_limit)

        name = line.decode("latin-1") if isinstance(line, bytes) else line
        return await self._shielded(frame, name, timeout)

    async def _shielded(
        self, frame: Callable[[], bytes], name: str, timeout: float | None
    ) -> Reply:
        task = asyncio.create_task(self._exchange(frame, name, timeout))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _exchange(
        self, frame: Callable[[], bytes], name: str, timeout: float | None
    ) -> Reply:
        limit = self.timeout if timeout is None else timeout
        async with self._lock:
            self._check_open()
            if self._out_of_step:
                await self._resync()
            waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                self.link.write(frame())
                await self.link.drain()
                async with asyncio.timeout(limit):
                    return await waiter
            except TimeoutError:
                self._out_of_step = True
                raise LinkTimeout(f"no reply to {name!r} within {limit:g} s") from None
            except RemoteProtocolError:
                self._out_of_step = True
                raise
            finally:
                self._waiter = None

    async def _resync(self) -> None:
        """Drop everything up to a marker reply (see ClientProtocol.start_resync)."""
        size = self._random.randint(1000, MAX_READ)
        wait = self._random.randint(1000, 29_000)
        self._resynced = asyncio.get_running_loop().create_future()
        try:
            self.link.write(self.protocol.start_resync(size, wait))
            await self.link.drain()
            async with asyncio.timeout(RESYNC_TIMEOUT):
                await self._resynced
        except TimeoutError:
            raise LinkTimeout("the module did not answer the resynchronisation") from None
        finally:
            self._resynced = None
        self._out_of_step = False
        for listener in list(self._resync_listeners):
            listener()

    def add_resync_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each resync (R1/R2 of the selected socket changed)."""
        self._resync_listeners.append(listener)

    # ------------------------------------------------------------------ messages

    def add_listener(self, listener: Callable[[AsyncMessage], None]) -> None:
        """Call ``listener`` for every async message as it arrives."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[AsyncMessage], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def take_messages(self) -> list[AsyncMessage]:
        """The async messages received and not taken yet, oldest first."""
        messages = list(self._messages)
        self._messages.clear()
        self._message_event.clear()
        return messages

    async def wait_message(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an async message; True if one is waiting."""
        if self._messages:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._message_event.wait()
        return bool(self._messages)

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        reason: BaseException = LinkClosed(f"the link {self.link.name} closed")
        try:
            while True:
                data = await self.link.read()
                if not data:
                    break
                self.protocol.receive_data(data)
                self._dispatch()
        except asyncio.CancelledError:
            reason = LinkClosed(f"the link {self.link.name} was closed")
            raise
        finally:
            self._closed = reason
            for future in (self._waiter, self._resynced):
                if future is not None and not future.done():
                    future.set_exception(reason)

    def _dispatch(self) -> None:
        protocol = self.protocol
        while True:
            was_resyncing = protocol.resyncing
            try:
                event = protocol.next_event()
            except RemoteProtocolError as exc:
                if self._waiter is not None and not self._waiter.done():
                    self._waiter.set_exception(exc)
                else:
                    self._out_of_step = True
                continue
            resynced = self._resynced
            if was_resyncing and not protocol.resyncing and resynced and not resynced.done():
                resynced.set_result(None)
            if event is None:
                return
            if isinstance(event, AsyncMessage):
                self._messages.append(event)
                self._message_event.set()
                for listener in list(self._listeners):
                    listener(event)
            elif self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(event)

    def _check_open(self) -> None:
        if self._closed is not None:
            raise LinkClosed(str(self._closed))

    async def aclose(self) -> None:
        """Close the link; commands still waiting fail with LinkClosed."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.link.aclose()
