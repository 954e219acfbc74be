"""Relay fail-over with real relay processes (PROTOCOL.md §2.8, §2.11): SIGKILL one of three federated relays;
its nodes are back on the other two within seconds with the same identities, a direct channel that crossed
relays stays up throughout, and every message published before, during and after the kill reaches every
subscriber that kept a link; the node left with no link at all is told what it missed by its new peers (§5.3,
late joiners) and misses at most what was published while it had no peer.

Run with -s to see the fail-over times measured (kill → welcome from another relay, per node).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pynode.topics import DEMO_PULSE
from tests.netutil import eventually, node_on

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def start_relay(tmp: Path, port: int, peers: list[str]) -> subprocess.Popen:
    url = f"ws://127.0.0.1:{port}/p2p"
    args = [sys.executable, "-m", "pynode.cli", "relay", "--port", str(port), "--data-dir", str(tmp),
            "--public-url", url, "--no-archive"]  # fmt: skip
    for peer in peers:
        args += ["--peer-relay", peer]
    log = open(tmp.parent / f"{tmp.name}.log", "w")  # noqa: SIM115 - the process writes it until killed
    return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def links(port: int) -> int:
    try:
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://127.0.0.1:{port}/api/status", timeout=2)).json()
    except httpx.HTTPError:
        return -1
    return len(body["federation"]["links"])


async def test_sigkill_of_a_relay_its_nodes_move_to_the_others_and_nothing_is_lost(tmp_path):
    ports = [free_port() for _ in range(3)]
    urls = [f"ws://127.0.0.1:{p}/p2p" for p in ports]
    procs = [start_relay(tmp_path / f"relay{i}", p, urls[:i]) for i, p in enumerate(ports)]
    nodes = []
    try:
        deadline = time.monotonic() + 30
        while [await links(p) for p in ports] != [2, 2, 2]:
            assert time.monotonic() < deadline, "the three relays did not link"
            await asyncio.sleep(0.2)
        # two nodes per relay, each given only its own relay: the welcome names the others
        for url in urls:
            for k in range(2):  # the first on A and on B take one direct channel (to each other, below)
                nodes.append(await node_on(url, direct_peers=1 if k == 0 and url != urls[2] else 0))
        a_nodes, b_nodes, c_nodes = nodes[0:2], nodes[2:4], nodes[4:6]
        got = {n.peer_id: [] for n in nodes}
        for n in nodes:
            n.subscribe(DEMO_PULSE, lambda env, box=got[n.peer_id]: box.append(env.data))
        await eventually(lambda: all(n.relay.connected for n in nodes), 20, "every node joined")
        await eventually(
            lambda: all(len(n.relay.links) == 3 for n in nodes), 10, "the federation's relays learned"
        )

        # a direct channel between a node on B and a node on A, negotiated through the federation
        on_b, on_a = b_nodes[0], a_nodes[0]
        on_b.peer_manager.pin(on_a.peer_id)  # the smaller id of the two offers (§4.1)
        await eventually(lambda: on_b.connected_peers().get(on_a.peer_id) == "direct", 30, "a direct channel")
        await eventually(lambda: all(n.router.mesh.get(DEMO_PULSE) for n in nodes), 20, "meshes")

        sent: list[bytes] = []
        publishers = [a_nodes[1], c_nodes[1]]

        async def publish(count: int, tag: str) -> None:
            for i in range(count):
                for p in publishers:
                    data = f"{tag}-{i}-{p.peer_id.hex()[:6]}".encode()
                    sent.append(data)
                    await p.publish(DEMO_PULSE, data)
                await asyncio.sleep(0.1)

        await publish(10, "before")
        killed_at = time.monotonic()
        os.killpg(procs[1].pid, signal.SIGKILL)  # relay B, a real process, without a goodbye
        procs[1].wait()
        during = asyncio.ensure_future(publish(30, "during"))
        back: dict[bytes, float] = {}  # kill → welcomed by another relay
        meshed: dict[bytes, float] = {}  # kill → a gossip mesh again
        direct_held = True
        while len(meshed) < len(b_nodes):
            assert time.monotonic() - killed_at < 30, "B's nodes did not come back"
            for n in b_nodes:
                at = time.monotonic() - killed_at
                if n.peer_id not in back and n.relay.connected and n.relay.link.description != urls[1]:
                    back[n.peer_id] = at
                if n.peer_id in back and n.peer_id not in meshed and n.router.mesh.get(DEMO_PULSE):
                    meshed[n.peer_id] = at
            direct_held &= on_b.connected_peers().get(on_a.peer_id) == "direct"
            await asyncio.sleep(0.01)
        await during
        await publish(10, "after")
        print(f"\nfail-over after SIGKILL, per node of relay B: welcomed by another relay after "
              f"{sorted(round(s, 3) for s in back.values())} s, in a gossip mesh again after "
              f"{sorted(round(s, 3) for s in meshed.values())} s")  # fmt: skip
        assert direct_held, "the direct channel dropped while its node changed relay"
        assert {n.relay.link.description for n in b_nodes} <= {urls[0], urls[2]}
        assert on_b.connected_peers().get(on_a.peer_id) == "direct"

        def missing(n) -> list[bytes]:
            own = n.peer_id.hex()[:6].encode()
            return sorted(m for m in set(sent) - set(got[n.peer_id]) if not m.endswith(own))

        deadline = time.monotonic() + 30
        isolated = b_nodes[1]  # the one node with no link that does not pass through relay B
        while any(missing(n) for n in nodes) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        # every node with a link that outlived relay B (the direct channel: on_b), and every node elsewhere, got
        # every message. The node that had no peer for a while (in a gossip mesh again after the time printed
        # above) is told of its new peers' recent history (§5.3) and usually gets everything, but not always:
        # what reached a peer after that peer's one announcement can be missed (seen in a full-suite run).
        others = [n for n in nodes if n is not isolated]
        assert {n.identity.text[:8]: missing(n) for n in others} == {n.identity.text[:8]: [] for n in others}
        gap = missing(isolated)
        assert all(m.startswith(b"during") for m in gap), gap
        told = sum(n.router.counters["history_told"] for n in nodes)
        print(f"the node with no surviving link missed {len(gap)} of {len(sent)} messages (all while it had no "
              f"peer); {told} recent ids told to new subscribers")  # fmt: skip
    finally:
        for n in nodes:
            await n.stop()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
