"""Honest nodes keep within their relay's per-peer byte budget under attack (issue 15 item 6), over real sockets.

A relay throttles, then cuts off, any peer that sends it more than its buckets allow (PROTOCOL.md §2.9, §6.3),
and it cannot tell an attacker from an honest node made to send too much. Two ways an attacker did that, each of which got
honest nodes disconnected before outgoing traffic was paced (net/pacer.py) and IWANT answers capped in bytes:
- valid 1 MB messages at 2.5 MB/s, which every honest node forwards to each of its mesh peers;
- IWANT amplification: a few hundred bytes asking for twelve cached 1 MB messages, again and again.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.attacker import Attacker
from pynode.gossip.rpc import RPC, SubOpt
from pynode.node import Node
from pynode.wire.envelope import sign_envelope
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow

TOPIC = "hs/1/test/budget"
BIG = 1_000_000  # bytes of data in one message: a valid, maximal-sized gossip message
ATTACK_S = 8.0
# The relay throttles a peer over its rate and cuts it off only once it has been over for this long (30 s by
# default): short here, so a node that did not pace itself would be cut off within the attack.
CUT_OFF_S = 2.0


async def honest_nodes(url: str, n: int) -> list[Node]:
    nodes = [await node_on(url) for _ in range(n)]
    for node in nodes:
        node.subscribe(TOPIC)
    await eventually(
        lambda: all(len(node.router.mesh.get(TOPIC, ())) >= n - 1 for node in nodes), 30, "honest mesh"
    )
    return nodes


async def attack_target(url: str, target: Node) -> tuple[Attacker, object]:
    """An attacker with a circuit to `target`, subscribed to TOPIC."""
    attacker = await Attacker(url).start()
    conn = await attacker.open(target.peer_id)
    await conn.send(RPC(subs=[SubOpt(True, TOPIC)]).encode())
    await eventually(lambda: attacker.peer_id in target.router.peers, 10, "attacker linked")
    return attacker, conn


def kicked(relay, nodes: list[Node]) -> dict[str, object]:
    """What the relay held against the honest nodes: refusals for rate, and sessions each node needed."""
    return {
        "rate_limited": relay.relay.stats.rejections.get("rate_limited", 0),
        "sessions": [n.relay.connections for n in nodes],
        "connected": [n.relay.connected for n in nodes],
    }


async def test_forwarding_valid_megabyte_messages_at_2_5_MB_s_does_not_get_honest_nodes_cut_off(tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False, rate_limit_after_s=CUT_OFF_S)
    nodes: list[Node] = []
    attacker = None
    try:
        nodes = await honest_nodes(relay.url, 4)
        target = nodes[0]
        attacker, conn = await attack_target(relay.url, target)
        got = []
        target.subscribe(TOPIC, lambda env: got.append(env.sender))
        started, seqno = time.monotonic(), 0
        while (elapsed := time.monotonic() - started) < ATTACK_S:
            seqno += 1
            data = seqno.to_bytes(8, "big") * (BIG // 8)
            env = await sign_envelope(attacker.identity.signer, TOPIC, seqno, int(time.time() * 1000), data)
            await conn.send(RPC(msgs=[env]).encode())
            # 2.5 MB/s: under the relay's 4 MiB/s, so the attacker itself stays connected
            await asyncio.sleep(max(0.0, seqno * BIG / 2.5e6 - elapsed))
        await asyncio.sleep(3.0)  # whatever was booked drains
        assert attacker.peer_id in got  # the messages were valid: delivered and forwarded
        assert kicked(relay, nodes) == {"rate_limited": 0, "sessions": [1] * 4, "connected": [True] * 4}
    finally:
        if attacker is not None:
            await attacker.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()


async def test_iwant_amplification_does_not_get_an_honest_node_cut_off(tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False, rate_limit_after_s=CUT_OFF_S)
    nodes: list[Node] = []
    attacker = None
    try:
        nodes = await honest_nodes(relay.url, 2)
        target = nodes[0]
        attacker, conn = await attack_target(relay.url, target)
        # twelve 1 MB messages of the target's own, published slowly (well within its budget)
        ids = []
        for i in range(12):
            env = await target.publish(TOPIC, bytes([i]) * BIG)
            ids.append(env.msg_id)
            await asyncio.sleep(0.45)
        iwant = RPC(iwant=ids).encode()
        assert len(iwant) < 500  # 12 ids of 32 bytes
        started = time.monotonic()
        while time.monotonic() - started < ATTACK_S / 2:
            await conn.send(iwant)
            await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)
        assert kicked(relay, nodes) == {"rate_limited": 0, "sessions": [1] * 2, "connected": [True] * 2}
        assert target.router.counters["iwant_over_budget"] > 0
    finally:
        if attacker is not None:
            await attacker.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()
