"""Hostile input over real sockets: fuzzed frames, forged signatures, replays — sent to the relay and to nodes.

One relay (with its embedded node) and two honest nodes run on a loop in a background thread for the whole
module, so that hypothesis can drive many attackers against the same live network. After every attack the
processes are still up, honest peers still deliver, the offender is cut off, and the rejection is counted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed as WsClosed

from bench.attacker import Attacker
from pynode.gossip.rpc import RPC
from pynode.identity import Identity
from pynode.net import relay_proto as rp
from pynode.node import Node
from pynode.platform import native
from pynode.topics import DEMO_PULSE
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, sign_envelope
from pynode.wire.errors import WireError
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
TOPIC = DEMO_PULSE  # the relay's embedded node is subscribed to it too


class LoopThread:
    """An asyncio loop in a thread, so synchronous hypothesis tests can drive a long-lived network."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class World:
    def __init__(self, tmp: Any) -> None:
        self.thread = LoopThread()
        self.got: dict[str, Counter[bytes]] = defaultdict(Counter)
        self.relay = self.thread.run(relay_on(tmp))
        self.url = self.relay.url
        self.embedded: Node = self.relay.relay.embedded.node
        self.a: Node = self.thread.run(node_on(self.url))
        self.b: Node = self.thread.run(node_on(self.url))
        for name, n in (("a", self.a), ("b", self.b), ("relay", self.embedded)):
            self.thread.run(self._subscribe(n, name))
        self.thread.run(
            eventually(
                lambda: all(len(n.connected_peers()) >= 2 for n in (self.a, self.b)), 20, "honest links"
            )
        )

    async def _subscribe(self, node: Node, name: str) -> None:
        node.subscribe(TOPIC, lambda env: self.got[name].update([env.data]))

    def honest_still_deliver(self, tag: str) -> None:
        data = f"honest-{tag}-{time.monotonic_ns()}".encode()
        self.thread.run(self.a.publish(TOPIC, data))
        self.thread.run(
            eventually(
                lambda: self.got["b"][data] == 1 and self.got["relay"][data] == 1, 20, "honest delivery"
            )
        )

    def metrics(self) -> dict[tuple[str, str], float]:
        text = httpx.get(f"http://127.0.0.1:{self.relay.port}/metrics", timeout=5).text
        out = {}
        for family in text_string_to_metric_families(text):
            if family.name == "hyperspace_rejections":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        out[(s.labels["where"], s.labels["reason"])] = s.value
        return out

    def close(self) -> None:
        for n in (self.a, self.b):
            self.thread.run(n.stop())
        self.thread.run(self.relay.stop())
        self.thread.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("attacks"))
    yield w
    w.close()


def _not_an_rpc(buf: bytes) -> bool:
    try:
        RPC.decode(buf)
    except WireError:
        return True
    return False


def _rpc_like() -> st.SearchStrategy[bytes]:
    """Frames shaped like RPCs with wrong types, sizes or fields: deeper into the parser than random bytes."""
    leaf = (
        st.none() | st.booleans() | st.integers(-5, 2**64 - 1) | st.text(max_size=12) | st.binary(max_size=40)
    )
    value = st.recursive(
        leaf, lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=6), v, max_size=3)
    )
    field = st.sampled_from(["subs", "msgs", "ctrl", "ihave", "iwant", "graft", "prune", "x"])
    return st.dictionaries(field, value, max_size=3).map(lambda d: cbor.encode({"t": "rpc", **d}))


# ---- fuzzing a node through the relay ---------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=st.one_of(st.binary(min_size=1, max_size=300), _rpc_like()))
def test_fuzzed_frames_get_the_sender_cut_off_and_counted_while_honest_peers_deliver(
    world: World, frame: bytes
):
    assume(_not_an_rpc(frame))
    target = world.embedded
    before = sum(target.rejections.values())

    async def attack() -> Attacker:
        attacker = await Attacker(world.url).start()
        conn = await attacker.open(target.peer_id)
        await eventually(lambda: attacker.peer_id in target.connected_peers(), 10, "attacker linked")
        await conn.send(frame)
        await eventually(lambda: target.is_banned(attacker.peer_id), 10, "attacker banned")
        await eventually(lambda: attacker.peer_id not in target.connected_peers(), 10, "attacker dropped")
        return attacker

    attacker = world.thread.run(attack())
    assert sum(target.rejections.values()) == before + 1
    world.thread.run(attacker.stop())


def test_a_target_with_the_smaller_id_that_dialled_the_attacker_first_is_answered(world: World):
    """Nodes dial a peer as it joins the relay. When both dial at once the smaller id's attempt wins (PROTOCOL.md
    §3.3): an attacker that only dialled then waited for its handshake to time out, and the attack tests failed."""
    target = world.a
    bigger = (Identity(native.NaclSigner(native.random_bytes(32))) for _ in range(10_000))

    async def attack() -> Attacker:
        attacker = await Attacker(world.url, next(i for i in bigger if i.peer_id > target.peer_id)).start()
        await eventually(lambda: target.peer_id in attacker.dials, 10, "the target dialled the attacker")
        await attacker.open(target.peer_id, timeout=5)
        await eventually(lambda: attacker.peer_id in target.connected_peers(), 10, "attacker linked")
        return attacker

    attacker = world.thread.run(attack())
    world.thread.run(attacker.stop())


def test_garbage_instead_of_a_handshake_is_refused_and_counted(world: World):
    async def attack() -> Attacker:
        attacker = await Attacker(world.url).start()
        await attacker.client.send_circuit(world.a.peer_id, b"\xff\x00 not a frame")  # garbage, not an hs1
        await eventually(lambda: world.a.is_banned(attacker.peer_id), 10, "attacker banned")
        # while banned, even a proper handshake gets nowhere
        with pytest.raises(TimeoutError):
            await attacker.open(world.a.peer_id, timeout=1)
        return attacker

    attacker = world.thread.run(attack())
    assert world.a.rejections["from_banned_peer"] >= 1
    world.thread.run(attacker.stop())
    world.honest_still_deliver("after-garbage-handshake")


def test_forged_signatures_are_not_delivered_nor_forwarded_and_get_the_forger_graylisted(world: World):
    target = world.a
    bad_before = target.rejections["bad_signature"]

    async def attack() -> Attacker:
        attacker = await Attacker(world.url).start()
        conn = await attacker.open(target.peer_id)
        await eventually(lambda: attacker.peer_id in target.connected_peers(), 10, "attacker linked")
        now = int(time.time() * 1000)
        for i in range(30):
            # claims to come from honest node b; the signature is Mallory's, over other bytes
            forged = Envelope(
                TOPIC, world.b.peer_id, i, now, b"forged-%d" % i, attacker.identity.signer.sign_now(b"x")
            )
            await conn.send(RPC(msgs=[forged]).encode())
        graylist = target.router.thresholds.graylist_threshold
        await eventually(
            lambda: target.router.score(attacker.peer_id, time.monotonic()) < graylist,
            10,
            "score below graylist",
        )
        # from now on everything the forger sends is ignored before it is even looked at
        await conn.send(RPC(msgs=[forged]).encode())
        await eventually(lambda: target.router.counters["rpc_ignored_graylisted"] > 0, 10, "graylisted")
        return attacker

    attacker = world.thread.run(attack())
    thresholds = target.router.thresholds
    assert target.router.score(attacker.peer_id, time.monotonic()) < thresholds.graylist_threshold
    assert target.rejections["bad_signature"] - bad_before >= 9  # enough to cross the graylist threshold
    assert not any(d.startswith(b"forged-") for who in ("a", "b", "relay") for d in world.got[who])
    world.thread.run(attacker.stop())
    world.honest_still_deliver("after-forgery")


def test_replayed_and_stale_envelopes_are_not_delivered_again(world: World):
    target = world.b

    async def attack() -> Attacker:
        original = await world.a.publish(TOPIC, b"replay-me")
        await eventually(lambda: world.got["b"][b"replay-me"] == 1, 10, "original delivered")
        # a correctly signed message from a, stamped 10 minutes ago: outside the seen-cache window
        stale = await sign_envelope(
            world.a.identity.signer, TOPIC, 1, int(time.time() * 1000) - 600_000, b"stale"
        )
        attacker = await Attacker(world.url).start()
        conn = await attacker.open(target.peer_id)
        await eventually(lambda: attacker.peer_id in target.connected_peers(), 10, "attacker linked")
        for _ in range(3):
            await conn.send(RPC(msgs=[original]).encode())
        await conn.send(RPC(msgs=[stale]).encode())
        await eventually(lambda: target.rejections["stale_or_replayed"] >= 1, 10, "stale message rejected")
        return attacker

    attacker = world.thread.run(attack())
    assert world.got["b"][b"replay-me"] == 1  # the replays were recognised as duplicates
    assert target.router.counters["msg_duplicate"] >= 3
    assert all(world.got[who][b"stale"] == 0 for who in ("a", "b", "relay"))
    world.thread.run(attacker.stop())
    world.honest_still_deliver("after-replay")


def test_node_rejections_are_exported_in_the_relays_metrics(world: World):
    metrics = world.metrics()
    node_reasons = {reason: n for (where, reason), n in metrics.items() if where == "node"}
    assert node_reasons, metrics
    for reason, n in world.embedded.rejections.items():
        assert node_reasons.get(reason) == n


# ---- fuzzing the relay's /p2p --------------------------------------------------------------------------


async def _hello(url: str):
    ws = await connect(url, max_size=None)
    challenge = rp.parse_relay_frame(await ws.recv(), from_relay=True)
    assert isinstance(challenge, rp.Challenge)
    me = await Identity.generate()
    hello = await rp.make_hello(
        me.signer, challenge.nonce, challenge.relay, ("fuzz",), int(time.time() * 1000)
    )
    await ws.send(hello.encode())
    assert isinstance(rp.parse_relay_frame(await ws.recv(), from_relay=True), rp.Welcome)
    return ws


def _not_a_node_frame(buf: bytes) -> bool:
    try:
        rp.parse_relay_frame(buf, from_relay=False)
    except WireError:
        return True
    return False


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    frame=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["t", "to", "data", "peer"]),
            st.integers() | st.binary(max_size=40) | st.text(max_size=10),
            max_size=4,
        ).map(cbor.encode),
        st.builds(
            lambda t, x: cbor.encode({"t": t, "to": x, "data": b""}),
            st.sampled_from(["circuit", "signal", "hello"]),
            st.binary(max_size=40),
        ),
    )
)
def test_fuzzed_relay_frames_disconnect_the_sender_and_are_counted(world: World, frame: bytes):
    assume(_not_a_node_frame(frame))
    before = sum(n for (where, _), n in world.metrics().items() if where == "relay")

    async def attack() -> str:
        ws = await _hello(world.url)
        await ws.send(frame)
        try:
            while True:  # skip join/leave broadcasts until the relay's error, then the close
                reply = rp.parse_relay_frame(await asyncio.wait_for(ws.recv(), 10), from_relay=True)
                if isinstance(reply, rp.Error):
                    code = reply.code
                    break
            await asyncio.wait_for(ws.recv(), 10)
        except WsClosed:
            return code
        raise AssertionError("the relay kept the socket open after a bad frame")

    assert world.thread.run(attack()) == "bad_frame"
    after = sum(n for (where, _), n in world.metrics().items() if where == "relay")
    assert after == before + 1
