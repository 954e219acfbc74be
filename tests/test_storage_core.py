"""Storage, sans-IO: manifests and chunk checks, fetching from hostile holders, rendezvous placement under
churn, storage proofs, quotas and eviction, disk persistence, and re-replication in a simulated network."""

from __future__ import annotations

import hashlib
import random

import pytest

from pynode.services.storage import messages as msg
from pynode.services.storage import placement
from pynode.services.storage.backend import DiskBackend, MemoryBackend
from pynode.services.storage.core import Challenge, Offer, Probe, StorageCore
from pynode.services.storage.fetch import FALSE_MANIFEST, LIED, Ask, Done, Fetch, GaveUp, Penalise
from pynode.services.storage.holdings import Holdings, Refused
from pynode.services.storage.limits import CHUNK_BYTES, MAX_BLOB_BYTES, MAX_CHUNKS
from pynode.services.storage.manifest import Manifest, split
from pynode.sim.storage import StorageNetwork, run_churn
from pynode.wire.errors import WireError

NOW = 1_000_000.0


def peer(i: int) -> bytes:
    return hashlib.sha256(b"p" + i.to_bytes(4, "big")).digest()


def blob_of(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


# ---- manifests -----------------------------------------------------------------------------------------------


def test_manifest_round_trips_and_checks_chunks() -> None:
    data = blob_of(CHUNK_BYTES * 2 + 10)
    m, chunks = split(data)
    assert m.chunks == 3 and [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 10]
    assert Manifest.from_wire(m.to_wire()) == m
    m.check_chunk(2, chunks[2])
    with pytest.raises(WireError, match="does not match"):
        m.check_chunk(1, bytes(CHUNK_BYTES))
    with pytest.raises(WireError, match="has 9 bytes"):
        m.check_chunk(2, chunks[2][:9])


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        ({"blob": b"x" * 32, "size": 10, "hashes": b"y" * 64}, "2 chunk hashes for 10 bytes"),
        ({"blob": b"x" * 32, "size": 10, "hashes": b"y" * 32}, "one-chunk blob"),
        ({"blob": b"x" * 32, "size": MAX_BLOB_BYTES + 1, "hashes": b""}, "size must be"),
        ({"blob": b"x" * 31, "size": 1, "hashes": b"x" * 32}, "blob must be 32 bytes"),
        ({"blob": b"x" * 32, "size": 1, "hashes": b"y" * (MAX_CHUNKS + 1) * 32}, "hashes longer"),
        ({"blob": b"x" * 32, "size": 1}, "expected"),
        ("manifest", "must be a map"),
    ],
)
def test_malformed_manifests_are_refused_with_a_reason(wire: object, error: str) -> None:
    with pytest.raises(WireError, match=error):
        Manifest.from_wire(wire)


def test_oversized_blob_is_refused_before_chunking() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return MAX_BLOB_BYTES + 1

    with pytest.raises(ValueError, match="over the"):
        split(Huge(b""))


@pytest.mark.parametrize(
    ("parse", "args", "error"),
    [
        (msg.parse_chunk, {"blob": b"x" * 32, "index": MAX_CHUNKS}, "index"),
        (msg.parse_chunk, {"blob": b"x" * 32, "index": -1}, "index"),
        (msg.parse_chunk, {"blob": b"x" * 32, "index": 0, "more": 1}, "keys"),
        (msg.parse_has, {"blobs": [b"short"]}, "32-byte ids"),
        (msg.parse_has, {"blobs": [b"x" * 32] * 257}, "at most 256"),
        (msg.parse_prove, {"blob": b"x" * 32, "seed": b"s" * 32, "count": 99}, "count"),
        (msg.parse_offer, {"manifest": {}, "ttl": 60, "holders": []}, "manifest"),
        (msg.parse_offer, {"manifest": split(b"a")[0].to_wire(), "ttl": 60, "holders": [b"p"]}, "peer ids"),
    ],
)
def test_hostile_arguments_are_refused(parse: object, args: dict, error: str) -> None:
    with pytest.raises(WireError, match=error):
        parse(args)  # type: ignore[operator]


# ---- fetching ------------------------------------------------------------------------------------------------


def serve(holdings: dict[bytes, dict[int, bytes]], manifests: dict[bytes, Manifest], f: Fetch) -> list:
    """Answer every Ask from the given per-peer chunk tables until the fetch ends; returns all outputs."""
    seen: list = []
    todo = f.start()
    while todo:
        out = todo.pop(0)
        seen.append(out)
        if isinstance(out, Ask):
            table = holdings.get(out.peer)
            if out.index < 0:
                value = manifests[out.peer].to_wire() if out.peer in manifests else None
            else:
                value = {"data": table[out.index]} if table and out.index in table else None
            todo += f.answered(out, value)
    return seen


def test_a_bad_chunk_is_refused_its_sender_penalised_and_the_chunk_fetched_elsewhere() -> None:
    data = blob_of(CHUNK_BYTES * 3 + 5, 1)
    m, chunks = split(data)
    honest, liar = peer(1), peer(2)
    tampered = {i: bytes(len(c)) for i, c in enumerate(chunks)}
    f = Fetch(m.blob, [liar, honest])
    seen = serve({honest: dict(enumerate(chunks)), liar: tampered}, {liar: m, honest: m}, f)
    assert Penalise(liar, "bad_chunk", "bad_chunk: chunk 0 does not match its hash") in seen
    assert not [o for o in seen if isinstance(o, Penalise) and o.peer == honest]
    assert (
        len([o for o in seen if isinstance(o, Penalise)]) == 1
    )  # once, though several of its chunks were bad
    done = [o for o in seen if isinstance(o, Done)]
    assert done and done[0].data == data
    assert liar in f.bad and liar not in f.holders


def test_a_lying_manifest_is_caught_at_the_end_and_its_sender_penalised() -> None:
    data = blob_of(CHUNK_BYTES * 2, 2)
    m, chunks = split(data)
    other = blob_of(CHUNK_BYTES * 2, 3)
    fake_m, fake_chunks = split(other)
    lie = Manifest(m.blob, fake_m.size, fake_m.hashes)  # our id, another blob's chunks
    liar, honest = peer(1), peer(2)
    f = Fetch(m.blob, [liar, honest])
    seen = serve(
        {liar: dict(enumerate(fake_chunks)), honest: dict(enumerate(chunks))}, {liar: lie, honest: m}, f
    )
    assert Penalise(liar, FALSE_MANIFEST, LIED) in seen
    assert [o.data for o in seen if isinstance(o, Done)] == [data]


def test_fetch_gives_up_when_nobody_has_it() -> None:
    f = Fetch(b"x" * 32, [peer(1), peer(2)])
    seen = serve({}, {}, f)
    assert isinstance(seen[-1], GaveUp) and "no holder" in seen[-1].reason


def test_a_manifest_larger_than_the_asker_expects_is_refused() -> None:
    m, chunks = split(blob_of(5000))
    f = Fetch(m.blob, [peer(1)], limit=4000)
    seen = serve({peer(1): dict(enumerate(chunks))}, {peer(1): m}, f)
    assert isinstance(seen[1], Penalise) and "size must be" in seen[1].detail
    assert isinstance(seen[-1], GaveUp)


# ---- placement -----------------------------------------------------------------------------------------------


def test_rendezvous_placement_moves_only_what_departures_held() -> None:
    peers = [peer(i) for i in range(40)]
    blobs = [hashlib.sha256(bytes([i])).digest() for i in range(200)]
    before = {b: placement.holders(b, peers, 3) for b in blobs}
    gone = set(random.Random(4).sample(peers, 12))  # 30% leave
    after = {b: placement.holders(b, [p for p in peers if p not in gone], 3) for b in blobs}
    for b in blobs:
        kept = [p for p in before[b] if p not in gone]
        assert after[b][: len(kept)] == kept  # survivors keep their places, in order
        assert not set(after[b]) & gone
    untouched = [b for b in blobs if not set(before[b]) & gone]
    assert untouched and all(before[b] == after[b] for b in untouched)
    # and an arrival only enters placements it outranks
    newcomer = peer(999)
    joined = {b: placement.holders(b, peers + [newcomer], 3) for b in blobs}
    for b in blobs:
        assert joined[b] == before[b] or (
            newcomer in joined[b] and set(joined[b]) - {newcomer} <= set(before[b])
        )


# ---- holdings: quotas, expiry, eviction ------------------------------------------------------------------------


def holdings(capacity: int, quota: int | None = None) -> Holdings:
    return Holdings(peer(0), MemoryBackend(), capacity, quota)


def store(h: Holdings, owner: bytes, data: bytes, ttl: int = 3600, surplus=lambda b: False, now=NOW) -> bytes:
    m, chunks = split(data)
    h.reserve(owner, m, ttl, now, surplus)
    h.keep(m, chunks, owner, now + ttl, False, now)
    return m.blob


def test_a_peer_cannot_store_beyond_its_quota() -> None:
    h = holdings(capacity=100_000, quota=25_000)
    store(h, peer(1), blob_of(20_000, 1))
    with pytest.raises(Refused, match="quota: 20000 of 25000") as e:
        store(h, peer(1), blob_of(10_000, 2))
    assert e.value.code == "rate_limited"
    store(h, peer(2), blob_of(20_000, 3))  # another peer has its own quota


def test_eviction_takes_expired_then_surplus_least_recent_and_never_placement_blobs() -> None:
    h = holdings(capacity=100_000, quota=100_000)
    mine = store(h, peer(1), blob_of(30_000, 1))  # we are a placement holder for this one
    old = store(h, peer(1), blob_of(30_000, 2), now=NOW)
    recent = store(h, peer(1), blob_of(30_000, 3), now=NOW)
    h.chunk(recent, 0, NOW + 5)  # read lately
    surplus = {old, recent}.__contains__
    # 10 KB free; 20 KB needed: the least recently used surplus copy goes
    store(h, peer(2), blob_of(20_000, 4), surplus=surplus, now=NOW + 10)
    assert not h.has(old) and h.has(recent) and h.has(mine)
    # 60 KB needed: only 30 KB of surplus is left, so nothing is evicted and the store is refused
    with pytest.raises(Refused, match="full"):
        store(h, peer(3), blob_of(60_000, 5), surplus=surplus, now=NOW + 20)
    assert h.has(recent) and h.has(mine)
    # after expiry, blobs go at upkeep
    assert set(h.expire(NOW + 3605)) == {mine, recent}


def test_ttl_bounds_and_renewal() -> None:
    h = holdings(capacity=100_000)
    m, _ = split(b"abc")
    with pytest.raises(Refused, match="ttl"):
        h.reserve(peer(1), m, 10, NOW, lambda b: False)
    b = store(h, peer(1), b"abc", ttl=100)
    h.reserve(peer(1), m, 1000, NOW, lambda b: False)  # stored again: the expiry moves
    assert h.entries[b].expires == NOW + 1000


def test_disk_backend_persists_and_drops_a_damaged_blob(tmp_path) -> None:
    data = blob_of(CHUNK_BYTES + 100, 7)
    h = Holdings(peer(0), DiskBackend(tmp_path), 10**7)
    b = store(h, peer(1), data)
    again = Holdings(peer(0), DiskBackend(tmp_path), 10**7)
    assert again.has(b) and again.usage(peer(1)) == len(data)
    assert again.chunk(b, 0, NOW) + again.chunk(b, 1, NOW) == data
    (tmp_path / b.hex() / "1").write_bytes(b"rot")
    assert again.chunk(b, 1, NOW) is None and not again.has(b)
    assert not (tmp_path / b.hex()).exists()
    (tmp_path / "junk").mkdir()
    assert Holdings(peer(0), DiskBackend(tmp_path), 10**7).entries == {}
    assert not (tmp_path / "junk").exists()


# ---- proofs and upkeep ------------------------------------------------------------------------------------------


def test_a_proof_catches_a_holder_that_dropped_chunks_and_it_loses_its_place() -> None:
    net = StorageNetwork(replicas=3)
    peers = [peer(i) for i in range(8)]
    for p in peers:
        net.add(p)
    b = net.store(peers[0], blob_of(CHUNK_BYTES * 8, 9))
    net.upkeep(1)
    holders = [p for p in peers if net.nodes[p].holdings.has(b)]
    assert len(holders) >= 3
    lazy = next(p for p in net.nodes[peers[0]].placement(b) if p != peers[0])
    backend = net.nodes[lazy].holdings.backend
    assert isinstance(backend, MemoryBackend)
    backend.chunks[b] = [None] * len(backend.chunks[b])  # keeps the manifest, threw the data away
    challenger = net.nodes[peers[0]]
    c = Challenge(lazy, b, b"s" * 32, 4)
    answers = net.call(peers[0], lazy, msg.PROVE, {"blob": b, "seed": c.seed, "count": 4})
    assert answers is None  # it cannot answer without the chunks
    outputs = challenger.proved(c, answers, net.now)
    assert lazy in challenger.excluded and lazy not in challenger.placement(b)
    ranking = placement.ranking(b, peers, {lazy})
    assert challenger.placement(b) == ranking[:3]  # the next peer in the ranking took its place
    assert {o.peer for o in outputs if isinstance(o, Offer)} == set(ranking[:3]) - {peers[0]}
    # a holder answering made-up hashes fails the same way
    liar = next(p for p in challenger.placement(b) if p != peers[0])
    assert challenger.proved(Challenge(liar, b, b"t" * 32, 4), [b"\x00" * 32] * 4, net.now)
    assert liar in challenger.excluded


def test_an_honest_holder_passes_its_proof() -> None:
    net = StorageNetwork(replicas=3)
    for i in range(5):
        net.add(peer(i))
    b = net.store(peer(0), blob_of(CHUNK_BYTES * 3, 5))
    other = next(p for p in net.nodes[peer(0)].placement(b) if p != peer(0))
    c = Challenge(other, b, b"u" * 32, 4)
    answers = net.call(peer(0), other, msg.PROVE, {"blob": b, "seed": c.seed, "count": 4})
    assert net.nodes[peer(0)].proved(c, answers, net.now) == []
    assert other not in net.nodes[peer(0)].excluded


def test_upkeep_probes_placement_and_offers_what_is_lacking() -> None:
    core = StorageCore(peer(0), holdings(10**7), replicas=3)
    core.set_peers({peer(i) for i in range(1, 6)}, NOW)
    m, chunks = split(b"hello")
    core.store_own(m, chunks, 3600, NOW)
    probes = [o for o in core.tick(NOW, b"s" * 32) if isinstance(o, Probe)]
    targets = {p for p in core.placement(m.blob) if p != peer(0)}
    assert {p.peer for p in probes} == targets
    first = probes[0]
    offers = core.probed(first.peer, first.blobs, [False], NOW)
    assert [o.peer for o in offers] == [first.peer] and offers[0].args["manifest"] == m.to_wire()
    msg.parse_offer(offers[0].args)  # what we send is what we accept


def test_replicas_restored_after_churn_in_a_simulated_network() -> None:
    report = run_churn(nodes=12, blobs=12, churn=0.3, waves=3, rounds_per_wave=2, seed=3)
    assert report["replicas_before_churn"] >= 3
    assert report["lost"] == 0 and report["replicas_after_churn"] >= 3


def test_a_copy_kept_for_own_use_is_not_replicated() -> None:
    core = StorageCore(peer(0), holdings(10**7), replicas=3)
    core.set_peers({peer(i) for i in range(1, 6)}, NOW)
    m, chunks = split(b"a shared DiLoCo state")
    assert core.cache(m, chunks, NOW, 600)
    assert core.tick(NOW, b"s" * 32) == []  # no probe, no offer, no proof
    assert core.holdings.has(m.blob) and core.surplus(m.blob)


def test_a_peer_asking_proofs_too_often_is_refused() -> None:
    core = StorageCore(peer(0), holdings(10**7), replicas=3)
    m, chunks = split(blob_of(CHUNK_BYTES * 4, 8))
    core.store_own(m, chunks, 3600, NOW)
    args = msg.ProveArgs(m.blob, b"s" * 32, 4)
    answered = [core.answer_prove(peer(1), args, NOW) for _ in range(10)]  # the burst
    assert all(a is not None and len(a) == 4 for a in answered)
    with pytest.raises(Refused, match="proofs a minute") as e:
        core.answer_prove(peer(1), args, NOW)
    assert e.value.code == "rate_limited"
    assert core.answer_prove(peer(2), args, NOW) is not None  # another peer has its own budget
    assert core.answer_prove(peer(1), args, NOW + 2) is not None  # refilled: 30 a minute
