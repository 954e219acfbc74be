"""Federated relays on loopback (PROTOCOL.md §2.11): gossip across three relays, a circuit from a node on one
relay to a node on another, a hostile relay cut off while the others keep working."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from pynode.identity import Identity
from pynode.net import relay_proto as rp
from pynode.net.federation_proto import FED_CAP, Dir, DirBody, Entry, Hop, parse_fed_frame
from pynode.net.limits import DIR_TTL_MS, DIR_UPDATES_BURST, UNROUTABLE_HOPS_BURST
from pynode.platform import native
from pynode.platform.transport import ConnectionClosed
from pynode.topics import DEMO_PULSE
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def _mesh_connects(gossipers: list, subscribers: list) -> bool:
    """Whether the DEMO_PULSE mesh links (either way) reach every subscriber from the first."""
    links: dict[bytes, set[bytes]] = {}
    for g in gossipers:
        for peer in g.router.mesh.get(DEMO_PULSE, ()):
            links.setdefault(g.peer_id, set()).add(peer)
            links.setdefault(peer, set()).add(g.peer_id)
    seen, todo = set(), [subscribers[0].peer_id]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(links.get(p, ()))
    return {s.peer_id for s in subscribers} <= seen


async def federation(tmp, n: int = 3, **config):
    """`n` relays with public URLs; each lists only the first, and finds the others through its directory."""
    ports = [free_port() for _ in range(n)]
    urls = [f"ws://127.0.0.1:{p}/p2p" for p in ports]
    relays = []
    for i, port in enumerate(ports):
        peers = (urls[0],) if i else ()
        relays.append(
            await relay_on(
                tmp / f"r{i}", port=port, archive=False, public_url=urls[i], peer_relays=peers, **config
            )
        )
    await eventually(
        lambda: all(len(r.relay.federation.core.links()) == n - 1 for r in relays), 20, "a full mesh of links"
    )
    return relays


async def stop_all(nodes, relays) -> None:
    for node in nodes:
        await node.stop()
    for relay in reversed(relays):
        await relay.stop()


async def test_a_message_published_on_one_relay_reaches_every_subscriber_on_all_three(tmp_path):
    relays = await federation(tmp_path)
    nodes, got = [], {}
    try:
        for r in relays:
            for _ in range(2):
                node = await node_on(r.url)
                got[node.peer_id] = []
                node.subscribe(DEMO_PULSE, lambda env, box=got[node.peer_id]: box.append(env.data))
                nodes.append(node)
        # each relay's own node keeps a gossip link to the other two relays' nodes
        for r in relays:
            others = {o.relay.identity.peer_id for o in relays if o is not r}
            await eventually(
                lambda r=r, o=others: o <= set(r.relay.embedded.node.connected_peers()), 20, "relay mesh"
            )
        gossipers = nodes + [r.relay.embedded.node for r in relays]
        # every subscriber in a mesh is not enough: the meshes must join up across the relays, or a message
        # published meanwhile waits for gossip (IHAVE) at the heartbeats, slow on a loaded machine
        await eventually(lambda: _mesh_connects(gossipers, nodes), 20, "one mesh across the relays")
        for i, publisher in enumerate(nodes):
            await publisher.publish(DEMO_PULSE, f"from {i}".encode())
        await eventually(
            lambda: all(
                {f"from {i}".encode() for i, p in enumerate(nodes) if p is not n} <= set(got[n.peer_id])
                for n in nodes
            ),
            20,
            "every message at every subscriber on every relay",
        )
    finally:
        await stop_all(nodes, relays)


async def test_a_node_on_relay_a_opens_a_circuit_to_a_node_on_relay_c_and_hears_when_it_leaves(tmp_path):
    relays = await federation(tmp_path)
    a_node = await node_on(relays[0].url)
    c_node = await node_on(relays[2].url, caps=["relay", "research"])
    nodes = [a_node, c_node]
    try:
        # c_node arrived at relay C and A routes to it: the hub forwards the dial through the A → C link
        await eventually(
            lambda: relays[0].relay.federation.core.route(c_node.peer_id) is not None, 10, "a route"
        )
        assert relays[0].relay.federation.core.route(c_node.peer_id) == relays[2].relay.identity.peer_id
        a_node.peer_manager.pin(c_node.peer_id)
        await eventually(lambda: c_node.peer_id in a_node.connected_peers(), 15, "the circuit A → C")
        assert a_node.connected_peers()[c_node.peer_id] == "relayed"
        assert a_node.peer_id in c_node.connected_peers()
        # both were introduced to each other with the capabilities their relays listed
        assert a_node.relay.peers[c_node.peer_id] == ["relay", "research"]
        assert c_node.relay.peers[a_node.peer_id] == ["relay"]
        await c_node.stop()
        # C's directory drops it; A tells the node it was introduced to, which closes its circuit
        await eventually(lambda: c_node.peer_id not in a_node.relay.peers, 10, "leave from relay A")
        await eventually(lambda: c_node.peer_id not in a_node.connected_peers(), 10, "the circuit closed")
    finally:
        await stop_all(nodes, relays)


# ---- a hostile relay ---------------------------------------------------------------------------------------


class HostileRelay:
    """A relay identity that links to a real relay the honest way, then breaks the rules."""

    def __init__(self, identity: Identity, url: str) -> None:
        self.identity = identity
        self.url = url
        self.sock = None
        self.seq = int(time.time() * 1000)

    async def link(self) -> rp.Error | None:
        """Run the federation handshake; the relay's error when it refuses."""
        self.sock = await native.relay_link(self.url).connect()
        challenge = parse_fed_frame(await self.sock.recv())
        now = int(time.time() * 1000)
        hello = await rp.make_hello(self.identity.signer, challenge.nonce, challenge.relay, (FED_CAP,), now)
        await self.sock.send(hello.encode())
        await self.sock.send(rp.Challenge(b"\x07" * 32, self.identity.peer_id).encode())
        answer = parse_fed_frame(await self.sock.recv())
        if isinstance(answer, rp.Error):
            return answer
        assert isinstance(answer, rp.Hello) and answer.peer == challenge.relay
        self.relay = challenge.relay
        return None

    async def send_dir(self, *add: Entry, full: bool = True) -> None:
        self.seq += 1
        body = DirBody(
            self.identity.peer_id, self.seq, int(time.time() * 1000) + DIR_TTL_MS, full, "", (), add, ()
        )
        await self.sock.send(Dir(body, self.identity.signer.sign_now(body.payload())).encode())

    async def closing_error(self) -> rp.Error:
        """Read until the relay's error frame (its directory, unreachable answers...) and the close."""
        async with asyncio.timeout(10):
            while True:
                frame = parse_fed_frame(await self.sock.recv())
                if isinstance(frame, rp.Error):
                    with pytest.raises(ConnectionClosed):
                        while True:
                            await self.sock.recv()
                    return frame


async def test_a_hostile_relay_is_cut_off_and_banned_while_the_others_keep_working(tmp_path):
    relays = await federation(tmp_path, n=2)
    a, b = relays
    a_node, b_node = await node_on(a.url), await node_on(b.url)
    nodes = [a_node, b_node]
    got: list[bytes] = []
    b_node.subscribe(DEMO_PULSE, lambda env: got.append(env.data))
    a_node.subscribe(DEMO_PULSE)
    try:
        a_id, b_id = a.relay.identity.peer_id, b.relay.identity.peer_id
        await eventually(
            lambda: b_id in a.relay.embedded.node.connected_peers(), 20, "the relays' nodes linked"
        )
        victim_id = a_node.peer_id

        # 1. a forged directory entry: a hello the listed peer never signed
        forger = HostileRelay(await Identity.generate(), a.url)
        assert await forger.link() is None
        await forger.send_dir(
            Entry(victim_id, ("relay",), int(time.time() * 1000), b"\x01" * 32, b"\x02" * 64)
        )
        error = await forger.closing_error()
        assert (error.code, error.msg.split(":")[0]) == ("cut_off", "forged_entry")
        again = HostileRelay(forger.identity, a.url)
        refused = await again.link()
        assert refused is not None and refused.code == "link_refused" and "banned" in refused.msg
        assert a.relay.federation.core.route(victim_id) is None

        # 2. circuits to nowhere: hops to peers relay A does not host, beyond what a race explains
        nowhere = HostileRelay(await Identity.generate(), a.url)
        assert await nowhere.link() is None
        await nowhere.send_dir()
        for i in range(UNROUTABLE_HOPS_BURST + 10):
            await nowhere.sock.send(
                Hop("circuit", nowhere.identity.peer_id, i.to_bytes(32, "big"), b"x").encode()
            )
        error = await nowhere.closing_error()
        assert (error.code, error.msg.split(":")[0]) == ("cut_off", "circuits_to_nowhere")

        # 3. a directory flood
        flood = HostileRelay(await Identity.generate(), a.url)
        assert await flood.link() is None
        for _ in range(DIR_UPDATES_BURST + 5):
            await flood.send_dir()
        error = await flood.closing_error()
        assert (error.code, error.msg.split(":")[0]) == ("cut_off", "directory_flood")

        # 4. a hop claiming to come from a peer the hostile relay does not host (the victim, to get it banned)
        spoofer = HostileRelay(await Identity.generate(), a.url)
        assert await spoofer.link() is None
        await spoofer.send_dir()
        await spoofer.sock.send(Hop("circuit", b_node.peer_id, a_node.peer_id, b"garbage").encode())
        error = await spoofer.closing_error()
        assert (error.code, error.msg.split(":")[0]) == ("cut_off", "forged_source")
        assert not a_node.is_banned(b_node.peer_id)

        cut = a.relay.federation.cut_offs
        assert cut == {"forged_entry": 1, "circuits_to_nowhere": 1, "directory_flood": 1, "forged_source": 1}
        # the honest link is untouched, and gossip still crosses it
        assert a.relay.federation.core.links() == [b_id]
        await eventually(
            lambda: b_id in a.relay.embedded.node.router.mesh.get(DEMO_PULSE, ()), 20, "A-B mesh"
        )
        await eventually(lambda: a_id in a_node.router.mesh.get(DEMO_PULSE, ()), 20, "a mesh on relay A")
        await a_node.publish(DEMO_PULSE, b"after the attacks")
        await eventually(lambda: b"after the attacks" in got, 20, "delivery from relay A to relay B")
    finally:
        await stop_all(nodes, relays)
