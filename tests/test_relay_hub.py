"""The relay's hub and admission limits, driven without sockets: in-process peers only."""

import asyncio
import collections
import random

import pytest

from pynode.identity import Identity
from pynode.net.relay_proto import (
    CircuitFrom,
    CircuitTo,
    Error,
    Hello,
    Join,
    Leave,
    PeerInfo,
    SignalFrom,
    SignalTo,
    Unreachable,
    Welcome,
    parse_relay_frame,
)
from pynode.platform.native import NaclSigner
from pynode.wire.errors import WireError
from relay_server.admission import ConnectionCap, TokenBucket
from relay_server.hub import Hub
from relay_server.limits import JOIN_FANOUT, WELCOME_NEWEST, WELCOME_PEERS

A, B, C = (Identity(NaclSigner(bytes([i]) * 32)).peer_id for i in (1, 2, 3))
NOBODY = bytes(32)


class Inbox:
    """Collects what the hub delivers to one local peer, decoded as a node would."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def deliver(self, frame: bytes) -> None:
        await self.queue.put(frame)

    async def next(self):
        return parse_relay_frame(await asyncio.wait_for(self.queue.get(), 2), from_relay=True)


def attach(hub: Hub, peer: bytes, caps=("test",)):
    inbox = Inbox()
    return hub.attach_local(peer, caps, inbox.deliver), inbox


async def test_welcome_lists_others_newest_first_and_join_leave_are_announced():
    hub = Hub()
    a, a_in = attach(hub, A, ("relay",))
    assert await a_in.next() == Welcome(())
    b, b_in = attach(hub, B)
    assert await b_in.next() == Welcome((PeerInfo(A, ("relay",)),))
    assert await a_in.next() == Join(B, ("test",))
    _c, c_in = attach(hub, C)
    assert await c_in.next() == Welcome((PeerInfo(B, ("test",)), PeerInfo(A, ("relay",))))
    b.close()
    assert await a_in.next() == Join(C, ("test",))
    assert await a_in.next() == Leave(B)
    assert [c.peer for c in hub.clients] == [A, C]


async def test_signal_and_circuit_carry_the_senders_id_and_unknown_targets_are_unreachable():
    hub = Hub()
    a, a_in = attach(hub, A)
    _b, b_in = attach(hub, B)
    await a_in.next(), await a_in.next(), await b_in.next()  # welcomes, join
    await a.send(SignalTo(B, b"offer").encode())
    await a.send(CircuitTo(B, b"hs1").encode())
    assert await b_in.next() == SignalFrom(A, b"offer")
    assert await b_in.next() == CircuitFrom(A, b"hs1")
    await a.send(CircuitTo(NOBODY, b"x").encode())
    assert await a_in.next() == Unreachable(NOBODY)
    assert hub.stats.frames_in == 3


async def test_a_second_attach_for_the_same_peer_replaces_the_first():
    hub = Hub()
    _a, a_in = attach(hub, A)
    old, old_in = attach(hub, B, ("v1",))
    new, new_in = attach(hub, B, ("v2",))
    # Frames not yet delivered to the old one are dropped: its last word is why it was closed.
    assert await old_in.next() == Error("replaced", "the same peer connected again")
    assert old.closed and not new.closed
    assert await new_in.next() == Welcome((PeerInfo(A, ("test",)),))
    await a_in.next()
    assert [await a_in.next() for _ in range(3)] == [Join(B, ("v1",)), Leave(B), Join(B, ("v2",))]
    old.close()  # the replaced one going away must not unregister its successor
    assert [c.peer for c in hub.clients] == [A, B]


async def test_a_consumer_that_falls_behind_is_dropped_without_blocking_the_sender():
    hub = Hub(send_queue_frames=4)
    a, a_in = attach(hub, A)
    await a_in.next()
    never = asyncio.Event()

    async def stuck(_frame: bytes) -> None:
        await never.wait()

    slow = hub.attach_local(B, ["slow"], stuck)
    assert await a_in.next() == Join(B, ("slow",))
    # B's task holds its welcome, stuck; four more frames fill its queue and the fifth overflows it.
    for _ in range(5):
        await a.send(CircuitTo(B, b"x").encode())
    assert slow.closed
    assert await a_in.next() == Leave(B)
    assert hub.stats.rejections["slow_consumer"] == 1
    await a.send(CircuitTo(B, b"x").encode())
    assert await a_in.next() == Unreachable(B)


async def test_a_local_peer_sends_only_valid_signal_and_circuit_frames():
    hub = Hub()
    a, _ = attach(hub, A)
    hello = Hello(A, (), 1, bytes(64)).encode()
    for frame, reason in [(hello, "unexpected_frame"), (b"\xff", "bad_type"), (b"", "truncated")]:
        with pytest.raises(WireError) as e:
            await a.send(frame)
        assert e.value.reason == reason
    a.close()
    with pytest.raises(ConnectionError):
        await a.send(CircuitTo(B, b"").encode())


async def test_a_local_peer_whose_delivery_fails_is_detached():
    hub = Hub()
    _a, a_in = attach(hub, A)
    await a_in.next()

    async def broken(_frame: bytes) -> None:
        raise RuntimeError("boom")

    hub.attach_local(B, [], broken)
    assert await a_in.next() == Join(B, ())
    assert await a_in.next() == Leave(B)


async def test_close_all_says_why_and_refuses_newcomers():
    hub = Hub()
    a, a_in = attach(hub, A)
    await a_in.next()
    hub.close_all(Error("shutting_down", "bye"))
    assert await a_in.next() == Error("shutting_down", "bye")
    assert a.closed and hub.clients == []
    with pytest.raises(RuntimeError, match="shutting_down"):
        attach(hub, B)


async def test_the_hub_refuses_peers_beyond_max_peers_but_not_a_replacement():
    hub = Hub(max_peers=1)
    attach(hub, A)
    with pytest.raises(RuntimeError, match="too_many_connections"):
        attach(hub, B)
    attach(hub, A)


async def _drained(inboxes: list[Inbox]) -> list[list]:
    """Everything delivered so far to each inbox, decoded (local delivery never blocks: a few loop turns do)."""
    for _ in range(3):
        await asyncio.sleep(0)
    out = []
    for inbox in inboxes:
        frames = []
        while not inbox.queue.empty():
            frames.append(parse_relay_frame(inbox.queue.get_nowait(), from_relay=True))
        out.append(frames)
    return out


async def test_announcements_in_a_large_network_are_bounded_and_leaves_reach_exactly_who_was_told():
    hub = Hub(rng=random.Random(7))
    n = JOIN_FANOUT + WELCOME_PEERS + 40
    peers = [i.to_bytes(32, "big") for i in range(1, n + 1)]
    handles, inboxes = zip(*(attach(hub, p) for p in peers), strict=True)
    got = await _drained(list(inboxes))
    told: dict[bytes, set[int]] = {p: set() for p in peers}  # peer -> indices of the clients told of it
    for i, frames in enumerate(got):
        welcome, joins = frames[0], frames[1:]
        named = [info.peer for info in welcome.peers]
        assert len(named) == min(i, WELCOME_PEERS) and len(set(named)) == len(named)
        assert named[: min(i, WELCOME_NEWEST)] == peers[:i][::-1][:WELCOME_NEWEST]  # the newest first
        assert all(isinstance(f, Join) for f in joins)
        for p in named + [f.peer for f in joins]:
            told[p].add(i)
    heard = collections.Counter(f.peer for frames in got for f in frames[1:])
    assert [heard[p] for p in peers] == [min(k, JOIN_FANOUT) for k in range(n)]  # N·64 join frames, not N²/2
    assert sum(len(f) - 1 for f in got) <= n * JOIN_FANOUT

    for gone in (peers[5], peers[-1], peers[n // 2]):
        handles[peers.index(gone)].close()
        after = await _drained(list(inboxes))
        leaves = {i for i, frames in enumerate(after) if Leave(gone) in frames}
        assert leaves == told[gone] - {peers.index(gone)}
        for clients in told.values():
            clients.discard(peers.index(gone))  # closed: it hears nothing more
    attach(hub, peers[0])  # replaced: whoever was told of the old session hears it leave
    after = await _drained(list(inboxes))
    assert {i for i, frames in enumerate(after) if Leave(peers[0]) in frames} == told[peers[0]] - {0}


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(1, 0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(1, 0.1) and not bucket.take(1, 0.1)
    assert bucket.take(3, 100.0) and not bucket.take(1, 100.0)  # refill stops at the burst
    assert not bucket.take(4, 1000.0)  # more than a burst never passes


def test_token_bucket_says_how_long_to_wait():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert bucket.wait(3, 0.0) == 0.0 and bucket.take(3, 0.0)
    assert bucket.wait(1, 0.0) == pytest.approx(0.1) and bucket.wait(2, 0.05) == pytest.approx(0.15)
    assert bucket.wait(4, 100.0) == float("inf")  # more than a burst never fits


def test_connection_cap_counts_sockets_per_address():
    cap = ConnectionCap(per_ip=2)
    assert cap.acquire("1.2.3.4") and cap.acquire("1.2.3.4")
    assert not cap.acquire("1.2.3.4")
    assert cap.acquire("5.6.7.8")
    cap.release("1.2.3.4")
    assert cap.acquire("1.2.3.4")
