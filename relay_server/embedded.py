"""The relay's own node: a gossip peer like any other, attached to the hub in-process.

It has the relay's identity, so the relay's peer id in every welcome is also a node that relays gossip, keeps
meshes alive while browser tabs come and go, and reports its router state in /api/status and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pynode.net.connection import ConnectionClosed
from pynode.node import Node, NodeConfig
from pynode.topics import DEFAULT_TOPICS
from relay_server.hub import LocalHandle
from relay_server.relay import Relay


class LocalRelaySocket:
    """The embedded node's end of the hub; already authenticated (it is the relay), so no hello."""

    authenticated = True

    def __init__(self, relay: Relay, caps: list[str]) -> None:
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._handle: LocalHandle = relay.hub.attach_local(relay.identity.peer_id, caps, self._deliver)

    async def _deliver(self, frame: bytes) -> None:
        self._inbox.put_nowait(frame)

    async def send(self, frame: bytes) -> None:
        try:
            await self._handle.send(frame)
        except ConnectionError as e:
            raise ConnectionClosed(str(e)) from None

    async def recv(self) -> bytes:
        if self._inbox.empty() and self._handle.closed:
            raise ConnectionClosed("detached from the hub")
        get = asyncio.ensure_future(self._inbox.get())
        closed = asyncio.ensure_future(self._handle.wait_closed())
        try:
            await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if get.done():
            return get.result()
        get.cancel()
        raise ConnectionClosed("detached from the hub")

    async def close(self) -> None:
        self._handle.close()


class LocalRelayLink:
    description = "in-process hub"

    def __init__(self, relay: Relay, caps: list[str]) -> None:
        self._relay = relay
        self._caps = caps

    async def connect(self) -> LocalRelaySocket:
        try:
            return LocalRelaySocket(self._relay, self._caps)
        except RuntimeError as e:  # the hub refuses while it shuts down
            raise ConnectionClosed(str(e)) from None


@contextlib.asynccontextmanager
async def embedded_node(relay: Relay) -> AsyncIterator[Node]:
    caps = ["relay"]
    node = Node(relay.identity, LocalRelayLink(relay, caps), NodeConfig(caps=caps, direct_peers=0))
    for topic in DEFAULT_TOPICS:
        node.subscribe(topic)
    relay.status_extra = lambda: {"node": node.stats()}
    relay.node_rejections = lambda: {("node", reason): n for reason, n in node.rejections.items()}
    relay.node = node
    relay.before_shutdown = node.stop
    await node.start()
    try:
        yield node
    finally:
        await node.stop()
