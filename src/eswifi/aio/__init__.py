"""The asyncio client: the module's sockets as asyncio streams, servers and datagrams.

::

    async with await eswifi.aio.Module.open("socket://127.0.0.1:7000") as module:
        await module.join("eswifi-lab", "eswifi-pass")
        reader, writer = await module.open_connection("127.0.0.1", 7007)

It runs on the same sans-I/O transaction layer as the sync client
(:mod:`eswifi.client.protocol`); only the I/O and the waiting differ.
"""

from eswifi.aio.module import Module
from eswifi.aio.streams import DatagramEndpoint, Server

__all__ = ["DatagramEndpoint", "Module", "Server"]
