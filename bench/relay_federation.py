"""The federation part of `hyperspace bench relay`: three relay processes, real nodes spread over them, one killed.

Relays A, B and C run as real processes (`hyperspace relay --peer-relay … --public-url …`: B and C name only A,
and find each other through A's directory). Real CPython nodes (pynode.node.Node, this process) join each
relay, given only their own relay's URL; their welcomes name the rest of the federation. One node on B and one
on C are pinned to each other and negotiate a WebRTC data channel through the federation (B → A → C or B → C),
which the B end must then keep while changing relay. Nodes on A and C publish gossip messages before,
during and after relay B is SIGKILLed; every node subscribes.

Measured: delivery (messages received / every subscriber's expected copies, all nodes, the kill included), the
same for the nodes not on B, fail-over time per node of B (SIGKILL → welcomed by another relay), whether the
cross-relay pair reached a direct channel, and whether it kept it through the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ROOT
from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.stats import percentile
from pynode.topics import DEMO_PULSE

TOPIC = DEMO_PULSE  # a topic the relays' own nodes carry, so gossip spans the federation through them
LINK_TIMEOUT_S = 60.0  # the three relays must have linked within this
JOIN_TIMEOUT_S = 60.0  # every node welcomed, and the federation's relays learned
DIRECT_TIMEOUT_S = 45.0  # a pinned pair's data channel through the federation
FAILOVER_LIMIT_S = 60.0  # B's nodes must be back within this (the target is 5 s)
PUBLISH_INTERVAL_S = 0.1
SETTLE_S = 10.0  # after the last message: late copies arrive (gossip repairs)


def run_federation(nodes_per_relay: int, messages: int, tmp: Path, ports: list[int]) -> dict[str, Any]:
    urls = [f"ws://127.0.0.1:{p}/p2p" for p in ports]
    procs = [_start_relay(tmp / f"fed{i}", p, urls[i], urls[:1] if i else []) for i, p in enumerate(ports)]
    try:
        return asyncio.run(_run(urls, ports, procs, nodes_per_relay, messages))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


async def _run(
    urls: list[str], ports: list[int], procs: list[subprocess.Popen[bytes]], per_relay: int, messages: int
) -> dict[str, Any]:
    await _until(lambda: [_links(p) for p in ports] == [2, 2, 2], LINK_TIMEOUT_S, "the three relays to link")
    nodes: list[list[Node]] = [[], [], []]
    try:
        for r, url in enumerate(urls):
            for k in range(per_relay):
                # only the pair's two nodes take a data channel, so each has no one else to take it with
                direct = 1 if k == 0 and r > 0 else 0
                cfg = NodeConfig(direct_peers=direct, ice_addresses=["127.0.0.1"])
                node = Node(await Identity.generate(), native.relay_link(url), cfg)
                await node.start()
                nodes[r].append(node)
        everyone = [n for group in nodes for n in group]
        got: dict[bytes, set[bytes]] = {n.peer_id: set() for n in everyone}
        for n in everyone:
            n.subscribe(TOPIC, lambda env, box=got[n.peer_id]: box.add(bytes(env.data)))
        await _until(
            lambda: all(n.relay.connected and len(n.relay.links) == 3 for n in everyone),
            JOIN_TIMEOUT_S,
            "every node welcomed and told of the federation's three relays",
        )
        b_pair = (nodes[1][0], nodes[2][0])
        small, big = sorted(b_pair, key=lambda n: n.peer_id)  # the smaller id offers (PROTOCOL.md §4.1)
        small.peer_manager.pin(big.peer_id)
        direct_by = time.monotonic() + DIRECT_TIMEOUT_S
        while time.monotonic() < direct_by and not _direct(*b_pair):
            await asyncio.sleep(0.1)
        cross_direct = _direct(*b_pair)
        await _until(lambda: all(n.router.mesh.get(TOPIC) for n in everyone), JOIN_TIMEOUT_S, "gossip meshes")

        publishers = [nodes[0][-1], nodes[2][-1]]
        sent: list[tuple[bytes, bytes]] = []  # (message, publisher)

        async def publish(count: int, tag: str) -> None:
            for i in range(count):
                for p in publishers:
                    data = f"{tag}-{i}-{p.peer_id.hex()[:8]}".encode()
                    sent.append((data, p.peer_id))
                    await p.publish(TOPIC, data)
                await asyncio.sleep(PUBLISH_INTERVAL_S)

        third = max(1, messages // 3)
        await publish(third, "before")
        killed_at = time.monotonic()
        os.killpg(procs[1].pid, signal.SIGKILL)  # relay B, without a goodbye
        procs[1].wait()
        during = asyncio.ensure_future(publish(third, "during"))
        back: dict[bytes, float] = {}
        kept = cross_direct
        while len(back) < len(nodes[1]) and time.monotonic() - killed_at < FAILOVER_LIMIT_S:
            for n in nodes[1]:
                if n.peer_id not in back and n.relay.connected and n.relay.link.description != urls[1]:
                    back[n.peer_id] = time.monotonic() - killed_at
            kept &= _direct(*b_pair)
            await asyncio.sleep(0.01)
        await during
        await publish(third, "after")
        await asyncio.sleep(SETTLE_S)

        def received(group: list[Node]) -> tuple[int, int]:
            expected = sum(1 for n in group for _, pub in sent if pub != n.peer_id)
            have = sum(1 for n in group for data, pub in sent if pub != n.peer_id and data in got[n.peer_id])
            return have, expected

        have, expected = received(everyone)
        have_ac, expected_ac = received(nodes[0] + nodes[2])
        times = sorted(back.values())
        return {
            "relays": 3,
            "nodes": len(everyone),
            "messages": len(sent),
            "delivery": round(have / expected, 5) if expected else None,
            "delivery_not_on_killed_relay": round(have_ac / expected_ac, 5) if expected_ac else None,
            "failover_p50_s": round(percentile(times, 50), 3) if times else None,
            "failover_p99_s": round(percentile(times, 99), 3) if times else None,
            "failed_over": f"{len(back)}/{len(nodes[1])}",
            "cross_relay_direct": cross_direct,
            "direct_kept_through_failover": kept and _direct(*b_pair),
        }
    finally:
        for group in nodes:
            for n in group:
                await n.stop()


def _direct(x: Node, y: Node) -> bool:
    return x.connected_peers().get(y.peer_id) == "direct"


def _start_relay(data: Path, port: int, url: str, peers: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "pynode.cli", "relay", f"--port={port}", f"--data-dir={data}",
           f"--public-url={url}", "--no-archive", *(f"--peer-relay={p}" for p in peers)]  # fmt: skip
    log = open(data.parent / f"{data.name}.log", "wb")  # noqa: SIM115 - the process writes it until it ends
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _links(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
            return len(json.load(r)["federation"]["links"])
    except (OSError, ValueError, KeyError):
        return -1


async def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)
