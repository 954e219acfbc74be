"""One relay: its identity, the hub, counters and, when it runs one, its embedded node.

`open_relay` composes one from a config; `Relay(...)` takes its parts, so a test can hand it any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

from pynode.identity import Identity
from pynode.net.relay_proto import Error
from pynode.runtime.replica import StateReplica
from relay_server.admission import ConnectionCap
from relay_server.config import RelayConfig
from relay_server.embedded import EmbeddedNode, embedded_node
from relay_server.federation import Peering, RelayFederation
from relay_server.gateway import Gateway
from relay_server.guard import ConnectionGuard, fd_budget
from relay_server.hub import Hub
from relay_server.limits import HTTP_HEADROOM_PER_IP, SHUTDOWN_FLUSH_S
from relay_server.stats import RelayStats


class Relay:
    def __init__(
        self, config: RelayConfig, identity: Identity, hub: Hub, embedded: EmbeddedNode | None = None
    ) -> None:
        self.config = config
        self.identity = identity
        self.hub = hub
        self.stats = hub.stats
        self.embedded = embedded
        self.federation = RelayFederation(identity, hub, self.stats, config.public_url, config.peer_relays)
        if embedded is not None:
            self.federation.peering = Peering(embedded.node, hub, identity.peer_id)
        self.ip_cap = ConnectionCap(config.max_connections_per_ip)  # /p2p, by the (forwarded) client address
        self.guard = ConnectionGuard(  # every socket, by the address it came from (guard.py)
            self.stats,
            budget=fd_budget(config.max_open_connections),
            per_ip=config.max_connections_per_ip + HTTP_HEADROOM_PER_IP,
            trusted=config.forwarded_allow_ips,
            header_timeout_s=config.header_timeout_s,
            request_timeout_s=config.request_timeout_s,
        )
        self.started = time.monotonic()

    @property
    def replica(self) -> StateReplica | None:
        """The embedded node's replica of the state (what /api/state shows)."""
        return self.embedded.replica if self.embedded is not None else None

    @property
    def gateway(self) -> Gateway | None:
        """The archive gateway, when the relay archives (what POST /api/archive feeds)."""
        return self.embedded.gateway if self.embedded is not None else None

    def uptime_s(self) -> float:
        return time.monotonic() - self.started

    def rejections(self) -> Counter[tuple[str, str]]:
        """Network input refused, keyed (where, reason): the relay's own and its node's."""
        merged = Counter({("relay", r): n for r, n in self.stats.rejections.items()})
        if self.embedded is not None:
            merged.update(self.embedded.rejections())
        return merged

    async def shutdown(self) -> None:
        """Tell every peer `shutting_down`, close it, and give the goodbyes a moment to go out."""
        await self.federation.stop()
        if self.embedded is not None:
            await self.embedded.leave()  # first, so the node does not take the goodbye for a relay restart
        clients = self.hub.close_all(Error("shutting_down", "the relay is stopping"))
        if clients:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(c.wait_flushed() for c in clients)), SHUTDOWN_FLUSH_S)


def new_hub(config: RelayConfig) -> Hub:
    return Hub(
        RelayStats(),
        max_peers=config.max_peers,
        send_queue_frames=config.send_queue_frames,
        send_queue_bytes=config.send_queue_bytes,
    )


async def open_relay(config: RelayConfig, identity: Identity | None = None, embedded: bool = True) -> Relay:
    """The relay `config` describes: its identity (kept under `config.data_dir` unless given), a hub, and
    unless `embedded` is False its own node (with the archiver and gateway when `config.archive`)."""
    if identity is None:
        identity = await Identity.load_or_create(config.data_dir)
    hub = new_hub(config)
    node = embedded_node(config, identity, hub) if embedded else None
    return Relay(config, identity, hub, node)
