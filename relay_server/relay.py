"""One relay's shared state: its identity, the hub, counters, and the hooks its embedded node fills in."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pynode.identity import Identity
from pynode.identity.vrf import VrfKey
from pynode.net.relay_proto import Error
from pynode.platform.native import NaclSigner, load_or_create_seed_now
from relay_server.config import RelayConfig
from relay_server.hub import Hub
from relay_server.limits import ConnectionCap
from relay_server.stats import RelayStats

SHUTDOWN_FLUSH_S = 1.0  # how long shutdown waits for peers to be told why


class Relay:
    def __init__(self, config: RelayConfig, identity: Identity | None = None) -> None:
        self.config = config
        # CPython only, so the key loads synchronously here (Identity.load_or_create is the async way)
        if identity is None:
            seed = load_or_create_seed_now(config.data_dir)
            identity = Identity(NaclSigner(seed), VrfKey(seed))
        self.identity = identity
        self.stats = RelayStats()
        self.hub = Hub(
            self.stats,
            max_peers=config.max_peers,
            send_queue_frames=config.send_queue_frames,
            send_queue_bytes=config.send_queue_bytes,
        )
        self.ip_cap = ConnectionCap(config.max_connections_per_ip)
        self.started = time.monotonic()
        # Hooks: a JSON-able dict shown as `extra` in /api/status, and rejection counts keyed by
        # (where, reason) exported in /metrics next to the relay's own (e.g. where="node").
        self.status_extra: Callable[[], dict[str, Any]] | None = None
        self.node_rejections: Callable[[], Mapping[tuple[str, str], int]] | None = None
        self.node: Any = None  # the embedded gossip node (pynode.node.Node), when the relay runs one
        self.state: Any = None  # its replica of the state (pynode.runtime.replica.StateReplica)
        self.gateway: Any = None  # the archive gateway (relay_server.gateway.Gateway), when it archives
        # Runs first on shutdown, so the embedded node leaves before the hub tells peers to go.
        self.before_shutdown: Callable[[], Awaitable[None]] | None = None

    def uptime_s(self) -> float:
        return time.monotonic() - self.started

    async def shutdown(self) -> None:
        """Tell every peer `shutting_down`, close it, and give the goodbyes a moment to go out."""
        if self.before_shutdown is not None:
            hook, self.before_shutdown = self.before_shutdown, None
            await hook()
        clients = self.hub.close_all(Error("shutting_down", "the relay is stopping"))
        if clients:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(c.wait_flushed() for c in clients)), SHUTDOWN_FLUSH_S)
