"""Helpers for tests that run real relays and nodes on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

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
