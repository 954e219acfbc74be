"""Real sockets on loopback: a relay (uvicorn) and CPython nodes over circuits and aiortc data channels."""

import asyncio
from collections import defaultdict

import pytest

from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
TOPIC = "hs/1/test/net"


async def test_eight_nodes_deliver_everything_over_direct_and_relayed_links_across_a_relay_restart(tmp_path):
    relay = await relay_on(tmp_path)
    port, url = relay.port, relay.url
    # four nodes that go direct over WebRTC, four that only ever use relay circuits
    nodes = [await node_on(url, direct_peers=3) for _ in range(4)]
    nodes += [await node_on(url, direct_peers=0) for _ in range(4)]
    got: dict[int, set[bytes]] = defaultdict(set)
    for i, n in enumerate(nodes):
        n.subscribe(TOPIC, lambda env, i=i: got[i].add(env.data))
    try:
        await eventually(lambda: all(len(n.connected_peers()) >= 8 for n in nodes), 30, "everyone linked")
        await eventually(
            lambda: all(n.stats()["direct"] >= 1 for n in nodes[:4]), 40, "direct WebRTC links among 0-3"
        )
        await eventually(lambda: all(len(n.router.mesh.get(TOPIC, ())) >= 4 for n in nodes), 20, "meshes")
        assert all(n.stats()["direct"] == 0 for n in nodes[4:]), "circuit-only nodes stayed relayed"

        async def round_of(tag: bytes) -> None:
            sent = set()
            for i, n in enumerate(nodes):
                for k in range(3):
                    data = tag + b"-%d-%d" % (i, k)
                    await n.publish(TOPIC, data)
                    sent.add(data)
            for i in range(len(nodes)):
                own = {d for d in sent if d.startswith(tag + b"-%d-" % i)}
                await eventually(lambda i=i, own=own: got[i] >= sent - own, 20, f"node {i} got round {tag!r}")

        await round_of(b"before")

        # kill the relay: circuits drop, direct links stay up
        await relay.stop()
        await eventually(
            lambda: not any(n.relay.connected for n in nodes), 10, "nodes notice the relay is gone"
        )
        assert all(n.stats()["direct"] >= 1 for n in nodes[:4])

        relay = await relay_on(tmp_path, port=port)  # same port, same identity
        await eventually(lambda: all(n.relay.connected for n in nodes), 30, "nodes reconnect by themselves")
        assert all(n.relay.connections >= 2 for n in nodes)
        await eventually(lambda: all(len(n.connected_peers()) >= 8 for n in nodes), 30, "links restored")
        await eventually(lambda: all(len(n.router.mesh.get(TOPIC, ())) >= 4 for n in nodes), 20, "meshes")
        await round_of(b"after")
    finally:
        for n in nodes:
            await n.stop()
        await relay.stop()


async def test_demo_command_runs_a_relay_and_nodes(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        *_hyperspace("demo", "--port", "0", "--nodes", "2", "--duration", "6", "--data-dir", str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "Open http://127.0.0.1:" in text and "2 node(s) online" in text


def _hyperspace(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "pynode.cli", *args]


async def test_a_circuit_dropped_on_one_side_is_re_established_without_banning_the_peer(tmp_path):
    relay = await relay_on(tmp_path)
    # a never dials by itself (target 0): only the stale-circuit rule can bring the link back
    a, b = await node_on(relay.url, target_peers=0), await node_on(relay.url)
    got = []
    a.subscribe(TOPIC, lambda env: got.append(env.data))
    b.subscribe(TOPIC)
    try:
        await eventually(
            lambda: b.peer_id in a.connected_peers() and a.peer_id in b.connected_peers(), 20, "link"
        )
        await eventually(lambda: len(b.router.mesh.get(TOPIC, ())) >= 1, 20, "b's mesh has a")
        # a drops its end (as on a receive-queue overflow); b still believes in the circuit, and its next
        # frame is one of a circuit a no longer holds
        a.disconnect(b.peer_id)
        await eventually(lambda: b.peer_id not in a.connected_peers(), 10, "a's end closed")
        assert a.peer_id in b.connected_peers()
        await b.publish(TOPIC, b"into the void")
        await eventually(lambda: a.rejections["stale_circuit"] >= 1, 10, "a sees a stale frame")
        await eventually(lambda: b.peer_id in a.connected_peers(), 20, "a redials: the circuit is back")
        assert not a.is_banned(b.peer_id) and not b.is_banned(a.peer_id)
        await eventually(lambda: len(a.router.mesh.get(TOPIC, ())) >= 1, 20, "mesh again")
        await b.publish(TOPIC, b"still friends")
        await eventually(lambda: b"still friends" in got, 20, "delivery")
    finally:
        for n in (a, b):
            await n.stop()
        await relay.stop()
