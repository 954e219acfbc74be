"""The relay's own node: a gossip peer like any other, attached to the hub in-process.

It has the relay's identity, so the relay's peer id in every welcome is also a node that relays gossip, keeps
meshes alive while browser tabs come and go, and reports its router state in /api/status and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from pynode.net.connection import ConnectionClosed
from pynode.node import Node, NodeConfig
from pynode.runtime.replica import StateReplica
from pynode.topics import DEFAULT_TOPICS
from relay_server.archive import ArchiveConfig, Archiver
from relay_server.archive_layout import state_files
from relay_server.gateway import ARCHIVE_PROTO, Gateway
from relay_server.hub import LocalHandle
from relay_server.relay import Relay

log = logging.getLogger(__name__)


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
    replica = StateReplica(node)
    archiver = _archiver(relay, replica)
    if archiver is not None:
        loaded = await replica.load(archiver.config.repo_dir / "snapshots")  # validated like network input
        if loaded:
            log.info("state: %d records restored from the archive", loaded)
        relay.gateway = Gateway(archiver, relay.config.archive_quota_bytes)
        node.handle(ARCHIVE_PROTO, relay.gateway.serve_request)
    relay.state = replica
    relay.status_extra = lambda: {
        "node": node.stats(),
        "state": replica.status(),
        **({"archive": archiver.describe()} if archiver is not None else {}),
    }
    relay.node_rejections = lambda: {("node", reason): n for reason, n in node.rejections.items()}
    relay.node = node
    relay.before_shutdown = node.stop
    await node.start()
    await replica.start()
    if archiver is not None:
        await archiver.start()
    try:
        yield node
    finally:
        await replica.stop()
        await node.stop()
        if archiver is not None:
            await archiver.stop(final_cycle=True)  # commit what arrived since the last cycle


def _archiver(relay: Relay, replica: StateReplica) -> Archiver | None:
    cfg = relay.config
    if not cfg.archive:
        return None
    config = ArchiveConfig(
        repo_dir=cfg.archive_path() / "repo",
        remote=cfg.archive_remote,
        interval_s=cfg.archive_interval_s,
        token_env=cfg.archive_token_env,
    )
    return Archiver(config, lambda: state_files(replica.store))
