"""The relay's own node: a gossip peer like any other, attached to the hub in-process.

It has the relay's identity, so the relay's peer id in every welcome is also a node that relays gossip, keeps
meshes alive while browser tabs come and go, holds a replica of the state (which the archiver writes to Git),
and serves the archive gateway over request/response as well as over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import current
from pynode.platform.transport import ConnectionClosed
from pynode.presence.params import Timing
from pynode.research.policy import check_result
from pynode.runtime.pulse import PulseConfig, PulseRuntime
from pynode.runtime.replica import StateReplica
from pynode.state.store import Store
from pynode.topics import DEFAULT_TOPICS
from relay_server.archive import ArchiveConfig, Archiver
from relay_server.archive_layout import state_files
from relay_server.config import RelayConfig
from relay_server.gateway import ARCHIVE_PROTO, Budgets, Gateway
from relay_server.hub import Hub, LocalHandle
from relay_server.origin import OriginAttestor, load_salt

log = logging.getLogger(__name__)

CAPS = ["relay"]


class LocalRelaySocket:
    """The embedded node's end of the hub; already authenticated (it is the relay), so no hello."""

    authenticated = True

    def __init__(self, hub: Hub, peer: bytes, caps: list[str]) -> None:
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._handle: LocalHandle = hub.attach_local(peer, caps, self._deliver)

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
        finally:  # also when our reader is cancelled: a get left waiting on the queue would leak
            closed.cancel()
            if not get.done():
                get.cancel()
        if get.done():  # a get cancelled just above is not done yet
            return get.result()
        raise ConnectionClosed("detached from the hub")

    async def close(self) -> None:
        self._handle.close()


class LocalRelayLink:
    """A `RelayLink` to a hub in this process."""

    description = "in-process hub"

    def __init__(self, hub: Hub, peer: bytes, caps: list[str]) -> None:
        self._hub = hub
        self._peer = peer
        self._caps = caps

    async def connect(self) -> LocalRelaySocket:
        try:
            return LocalRelaySocket(self._hub, self._peer, self._caps)
        except RuntimeError as e:  # the hub refuses while it shuts down
            raise ConnectionClosed(str(e)) from None


@dataclass(frozen=True)
class EmbeddedNode:
    """The node and what hangs off it: its replica, and the archiver and gateway when the relay archives."""

    node: Node
    replica: StateReplica
    archiver: Archiver | None = None
    gateway: Gateway | None = None
    pulse: PulseRuntime | None = None  # takes part in pulse rounds (always online: a steady leader)
    attestor: OriginAttestor | None = None  # tells connected nodes their origin, for the points ledger

    async def start(self) -> None:
        if self.archiver is not None:
            snapshots = self.archiver.config.repo_dir / "snapshots"
            loaded = await self.replica.load(snapshots)  # validated like network input
            if loaded:
                log.info("state: %d records restored from the archive", loaded)
        if self.gateway is not None:
            self.node.handle(ARCHIVE_PROTO, self.gateway.serve_request)
        await self.node.start()
        await self.replica.start()
        for part in (self.pulse, self.attestor):
            if part is not None:
                await part.start()
        if self.archiver is not None:
            await self.archiver.start()

    async def leave(self) -> None:
        """Leave the hub (first thing on shutdown: the node goes before the hub tells peers to go)."""
        await self.node.stop()

    async def stop(self) -> None:
        for part in (self.attestor, self.pulse):
            if part is not None:
                await part.stop()
        await self.replica.stop()
        await self.node.stop()
        if self.archiver is not None:
            await self.archiver.stop(final_cycle=True)  # commit what arrived since the last cycle

    def status(self) -> dict[str, Any]:
        """Shown as `extra` in /api/status."""
        archive = {"archive": self.archiver.describe()} if self.archiver is not None else {}
        presence = (
            {"presence": {**self.pulse.status(), "top": self.pulse.top()}} if self.pulse is not None else {}
        )
        return {"node": self.node.stats(), "state": self.replica.status(), **archive, **presence}

    def rejections(self) -> dict[tuple[str, str], int]:
        """Network input the node refused, keyed (where, reason) like the relay's own in /metrics."""
        return {("node", reason): n for reason, n in self.node.rejections.items()}


def embedded_node(config: RelayConfig, identity: Identity, hub: Hub) -> EmbeddedNode:
    """The relay's node on `hub`, subscribed to the default topics, archiving when `config.archive`."""
    node = Node(identity, LocalRelayLink(hub, identity.peer_id, CAPS), NodeConfig(caps=CAPS, direct_peers=0))
    for topic in DEFAULT_TOPICS:
        node.subscribe(topic)
    # Its replica refuses research results that contradict their task, as every research node's does, so the
    # explorer and the archive never show a fabricated headline value or a config its domain refuses.
    replica = StateReplica(node, store=Store(identity.peer_id, current(), policy=check_result))
    pulse = None  # an identity made from a signer alone has no VRF key: no pulse rounds for it
    if identity.vrf is not None:
        timing = Timing(interval_ms=int(config.presence_interval_s * 1000))
        pulse = PulseRuntime(node, replica, PulseConfig(timing, frozenset({identity.peer_id}), name="relay"))
    attestor = OriginAttestor(node, hub, load_salt(config.data_dir))
    if not config.archive:
        return EmbeddedNode(node, replica, pulse=pulse, attestor=attestor)
    archive = ArchiveConfig(
        repo_dir=config.archive_path() / "repo",
        remote=config.archive_remote,
        interval_s=config.archive_interval_s,
        token_env=config.archive_token_env,
    )
    archiver = Archiver(archive, lambda: state_files(replica.store))
    budgets = Budgets(
        config.archive_quota_bytes,
        config.archive_queue_bytes,
        config.archive_queue_entries,
        config.archive_origin_bytes,
        config.archive_origin_entries,
    )
    gateway = Gateway(archiver, budgets, origin_of=hub.address_of)
    return EmbeddedNode(node, replica, archiver, gateway, pulse, attestor)
