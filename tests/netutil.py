"""Helpers for tests that run real relays and nodes on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from relay_server.config import RelayConfig
from relay_server.server import RunningRelay, start_relay


async def eventually(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `cond` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def relay_on(tmp: Path, port: int = 0, embedded_node: bool = True, **config) -> RunningRelay:
    config.setdefault("static_dir", None)
    cfg = RelayConfig(port=port, data_dir=tmp / "relay", log_level="warning", **config)
    return await start_relay(cfg, embedded_node=embedded_node)


async def node_on(relay_url: str, direct_peers: int = 0, identity: Identity | None = None, **config) -> Node:
    cfg = NodeConfig(direct_peers=direct_peers, ice_addresses=["127.0.0.1"], **config)
    node = Node(identity or await Identity.generate(), native.relay_link(relay_url), cfg)
    await node.start()
    return node


async def full_mesh(nodes: list[Node], timeout: float = 30.0) -> None:
    """Until every node is connected to every other one."""
    ids = {n.peer_id for n in nodes}
    await eventually(
        lambda: all(ids - {n.peer_id} <= set(n.connected_peers()) for n in nodes), timeout, "full mesh"
    )


async def stop_all(runtimes: list[Any], nodes: list[Node], relay: RunningRelay) -> None:
    """Tear down in dependency order: the runtimes on the nodes, the nodes, then their relay."""
    for r in runtimes:
        await r.stop()
    for n in nodes:
        await n.stop()
    await relay.stop()
