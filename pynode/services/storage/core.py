"""A storage node's protocol core, sans-IO: what it answers, where blobs belong, and keeping r copies of them.

Answering (`manifest`, `chunk`, `has`, `offer`, `prove`) reads and writes `Holdings`. An accepted offer becomes
a `Pull` output: the runtime fetches the blob (`fetch.py`) from the offerer and the holders it named, then calls
`pulled` (kept) or `pull_failed` (room released).

Upkeep (`tick`, every UPKEEP_INTERVAL_S, with a fresh random seed from the runtime) keeps each held blob on its
r placement holders (`placement.py`) as peers come and go:
- `Probe(peer, blobs)`: ask a placement holder which blobs it has (`probed` takes the answer). Its yes counts
  for CONFIRMED_TTL_S; every holder of a blob that learns a placement holder lacks it sends that holder an
  `Offer` (offers are small and idempotent: the target pulls once, duplicates are answered "already being
  stored");
- `Challenge(peer, blob, seed)`: a storage proof of another holder (`proofs.py`); `proved` checks the answer
  against our own copy. A holder that fails, or does not answer, is excluded from placement for EXCLUDE_S —
  it loses its place, and the next peer in the ranking becomes a holder (and is offered the blob).
Departed peers leave placement when the runtime passes the new peer list (`set_peers`); the next probe finds
their replacements lacking the blob and the holders offer it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pynode.services.codec import BUSY, RATE_LIMITED
from pynode.services.quota import Quotas
from pynode.services.storage import placement, proofs
from pynode.services.storage.holdings import Holdings, Refused
from pynode.services.storage.limits import (
    CONFIRMED_TTL_S,
    DEFAULT_REPLICAS,
    EXCLUDE_S,
    MAX_CHALLENGES,
    MAX_HAS_BLOBS,
    MAX_OFFER_HOLDERS,
    MAX_PENDING,
    MAX_PENDING_PER_PEER,
    MIN_TTL_S,
    PROOF_BURST,
    PROOF_CHUNKS,
    PROOFS_PER_MIN,
)
from pynode.services.storage.manifest import Manifest
from pynode.services.storage.messages import PULLING, STORED, ChunkArgs, OfferArgs, ProveArgs


@dataclass(frozen=True)
class Pull:
    """Fetch `manifest`'s blob from `holders` (the offerer first) and hand it to `pulled`."""

    manifest: Manifest
    holders: list[bytes]
    owner: bytes
    expires: float


@dataclass(frozen=True)
class Probe:
    peer: bytes
    blobs: list[bytes]


@dataclass(frozen=True)
class Offer:
    peer: bytes
    args: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Challenge:
    peer: bytes
    blob: bytes
    seed: bytes
    count: int


Output = Pull | Probe | Offer | Challenge


class StorageCore:
    def __init__(
        self, me: bytes, holdings: Holdings, replicas: int = DEFAULT_REPLICAS, accepting: bool = True
    ) -> None:
        self.me = me
        self.holdings = holdings
        self.replicas = replicas
        self.accepting = accepting  # this node advertises `storage`: it keeps others' blobs
        self.peers: set[bytes] = set()  # other peers advertising `storage`
        self.excluded: dict[bytes, float] = {}  # peer → until: failed a proof or sent bad data
        self.confirmed: dict[bytes, dict[bytes, float]] = {}  # blob → holder → when it said yes
        self.lacking: dict[bytes, set[bytes]] = {}  # blob → placement holders that said no
        self.counters: dict[str, int] = {}
        self.proof_quota = Quotas(PROOFS_PER_MIN, PROOF_BURST)

    def _count(self, what: str, n: int = 1) -> None:
        self.counters[what] = self.counters.get(what, 0) + n

    # ---- who holds what -------------------------------------------------------------------------------

    def set_peers(self, peers: set[bytes], now: float) -> None:
        """The peers advertising `storage` now (departed ones drop out of placement and confirmations)."""
        self.peers = set(peers) - {self.me}
        for held in self.confirmed.values():
            for p in [p for p in held if p not in self.peers]:
                del held[p]
        for p in [p for p, until in self.excluded.items() if until <= now]:
            del self.excluded[p]

    def exclude(self, peer: bytes, now: float) -> None:
        """`peer` failed us (a proof, a bad chunk): it holds nothing for us for EXCLUDE_S."""
        self.excluded[peer] = now + EXCLUDE_S
        for held in self.confirmed.values():
            held.pop(peer, None)

    def candidates(self) -> set[bytes]:
        return self.peers | ({self.me} if self.accepting else set())

    def placement(self, blob: bytes) -> list[bytes]:
        return placement.holders(blob, self.candidates(), self.replicas, self.excluded)

    def surplus(self, blob: bytes) -> bool:
        """We hold `blob` but are not one of its placement holders."""
        return self.me not in self.placement(blob)

    def sources(self, blob: bytes) -> list[bytes]:
        """Whom to ask for `blob`, most likely first: confirmed holders, placement, then every storage peer."""
        known = [p for p in self.confirmed.get(blob, {}) if p not in self.excluded]
        ranked = placement.ranking(blob, self.peers, self.excluded)
        return list(dict.fromkeys(known + ranked))

    # ---- answering ------------------------------------------------------------------------------------

    def answer_manifest(self, blob: bytes) -> dict[str, Any] | None:
        m = self.holdings.manifest(blob)
        return m.to_wire() if m is not None else None

    def answer_chunk(self, a: ChunkArgs, now: float) -> dict[str, Any] | None:
        data = self.holdings.chunk(a.blob, a.index, now)
        if data is None:
            return None
        self._count("chunks_served")
        return {"data": data}

    def answer_has(self, blobs: list[bytes]) -> list[bool]:
        return [self.holdings.has(b) for b in blobs]

    def answer_prove(self, peer: bytes, a: ProveArgs, now: float) -> list[bytes] | None:
        """Our proof for `peer`'s challenge; raises Refused when it asks more often than PROOFS_PER_MIN (each
        proof reads and hashes up to a MiB: an unbounded stream of them would be a cheap way to load us)."""
        if not self.proof_quota.take(peer, now):
            raise Refused(RATE_LIMITED, f"at most {PROOFS_PER_MIN} proofs a minute")
        m = self.holdings.manifest(a.blob)
        if m is None:
            return None
        answers = []
        for i in proofs.indices(a.seed, a.blob, m.chunks, a.count):
            data = self.holdings.chunk(a.blob, i, now)
            if data is None:
                return None  # damaged: dropped by `chunk`
            answers.append(proofs.answer(a.seed, i, data))
        return answers

    def offer(self, peer: bytes, a: OfferArgs, now: float) -> tuple[str, list[Output]]:
        """`peer` asks us to keep a blob; raises Refused (quota, full, too many pulls, not storing)."""
        blob = a.manifest.blob
        if not self.accepting:
            raise Refused(BUSY, "this node does not store blobs for others")
        if self.holdings.has(blob):
            self.holdings.reserve(peer, a.manifest, a.ttl, now, self.surplus)  # extends the expiry
            return STORED, []
        if self.holdings.pending() >= MAX_PENDING or self.holdings.pending(peer) >= MAX_PENDING_PER_PEER:
            raise Refused(BUSY, "too many blobs being pulled")
        self.holdings.reserve(peer, a.manifest, a.ttl, now, self.surplus)
        self._count("offers_accepted")
        holders = [peer] + [h for h in a.holders if h not in (peer, self.me) and h not in self.excluded]
        return PULLING, [Pull(a.manifest, holders, peer, now + a.ttl)]

    def pulled(self, pull: Pull, chunks: list[bytes], now: float) -> None:
        self.holdings.keep(pull.manifest, chunks, pull.owner, pull.expires, False, now)
        self._count("blobs_pulled")

    def pull_failed(self, pull: Pull) -> None:
        self.holdings.release(pull.manifest.blob)
        self._count("pulls_failed")

    def store_own(self, manifest: Manifest, chunks: list[bytes], ttl: int, now: float) -> None:
        """Keep a blob this node publishes (its copy is the first; upkeep offers it to the placement)."""
        self.holdings.make_room(manifest.size, now, self.surplus)
        self.holdings.keep(manifest, chunks, self.me, now + ttl, True, now)

    def publish(self, blob: bytes, now: float) -> list[Output]:
        """Offers of a blob we hold to its placement holders (the first copies; upkeep keeps them)."""
        return [self._offer(p, blob, now) for p in self.placement(blob) if p != self.me]

    def cache(self, manifest: Manifest, chunks: list[bytes], now: float, ttl: int) -> bool:
        """Keep a copy of a blob fetched for our own use, if the eviction policy makes room (it is surplus
        unless placement names us, and goes first when room is needed)."""
        try:
            self.holdings.make_room(manifest.size, now, self.surplus)
        except Refused:
            return False
        self.holdings.keep(manifest, chunks, self.me, now + ttl, False, now)
        return True

    # ---- upkeep ---------------------------------------------------------------------------------------

    def tick(self, now: float, seed: bytes) -> list[Output]:
        """One upkeep round: expire, probe placement holders whose answer is stale, offer what is known to be
        lacking, and challenge a sample of holders with storage proofs."""
        self.set_peers(self.peers, now)
        self.holdings.expire(now)
        for blob in [b for b in self.confirmed if not self.holdings.has(b)]:
            del self.confirmed[blob]
            self.lacking.pop(blob, None)
        to_probe: dict[bytes, list[bytes]] = {}
        out: list[Output] = []
        for blob, e in self.holdings.entries.items():
            if not e.own and e.owner == self.me:
                continue  # a copy we keep for our own use (a fetch, a shared state): not ours to replicate
            fresh = self.confirmed.setdefault(blob, {})
            for p in self.placement(blob):
                if p == self.me:
                    continue
                if p in self.lacking.get(blob, set()):
                    out.append(self._offer(p, blob, now))
                elif now - fresh.get(p, -CONFIRMED_TTL_S) >= CONFIRMED_TTL_S:
                    batch = to_probe.setdefault(p, [])
                    if len(batch) < MAX_HAS_BLOBS:
                        batch.append(blob)
        out += [Probe(p, blobs) for p, blobs in to_probe.items()]
        return out + self._challenges(now, seed)

    def probed(self, peer: bytes, blobs: list[bytes], held: list[bool], now: float) -> list[Output]:
        out: list[Output] = []
        for blob, yes in zip(blobs, held, strict=True):
            if not self.holdings.has(blob):
                continue
            if yes:
                self.confirmed.setdefault(blob, {})[peer] = now
                self.lacking.get(blob, set()).discard(peer)
            else:
                self.confirmed.setdefault(blob, {}).pop(peer, None)
                self.lacking.setdefault(blob, set()).add(peer)
                out.append(self._offer(peer, blob, now))
        return out

    def probe_failed(self, peer: bytes, blobs: list[bytes]) -> None:
        """No answer: its confirmations lapse (placement keeps it until it leaves or fails a proof)."""
        for blob in blobs:
            self.confirmed.get(blob, {}).pop(peer, None)

    def offered(self, peer: bytes, blob: bytes, answer: str | None) -> None:
        """What `peer` said to our offer (None: refused or no answer); it is probed again next round."""
        self.lacking.get(blob, set()).discard(peer)
        self._count("offers_made" if answer else "offers_refused")

    def proved(self, c: Challenge, answers: list[bytes] | None, now: float) -> list[Output]:
        """Check a proof against our own copy; a holder that fails it loses its place."""
        m = self.holdings.manifest(c.blob)
        if m is None:
            return []  # we dropped it meanwhile: nothing to check against
        expected = []
        for i in proofs.indices(c.seed, c.blob, m.chunks, c.count):
            data = self.holdings.chunk(c.blob, i, now)
            if data is None:
                return []
            expected.append(proofs.answer(c.seed, i, data))
        if answers == expected:
            self.confirmed.setdefault(c.blob, {})[c.peer] = now
            self._count("proofs_passed")
            return []
        self._count("proofs_failed")
        self.exclude(c.peer, now)
        return [self._offer(p, c.blob, now) for p in self.placement(c.blob) if p != self.me]

    def _offer(self, peer: bytes, blob: bytes, now: float) -> Offer:
        e = self.holdings.entries[blob]
        others = [p for p in self.confirmed.get(blob, {}) if p != peer][: MAX_OFFER_HOLDERS - 1]
        holders = ([self.me] + others)[:MAX_OFFER_HOLDERS]
        ttl = max(MIN_TTL_S, int(e.expires - now))
        return Offer(peer, {"manifest": e.manifest.to_wire(), "ttl": ttl, "holders": holders})

    def _challenges(self, now: float, seed: bytes) -> list[Output]:
        """Up to MAX_CHALLENGES (blob, holder) pairs among confirmed holders, picked by the round's seed."""
        pairs = sorted(
            ((b, p) for b, held in self.confirmed.items() for p in held if p != self.me),
            key=lambda bp: hashlib.sha256(seed + bp[0] + bp[1]).digest(),
        )
        out: list[Output] = []
        for blob, peer in pairs[:MAX_CHALLENGES]:
            m = self.holdings.manifest(blob)
            if m is not None:
                challenge_seed = hashlib.sha256(seed + blob + peer).digest()
                out.append(Challenge(peer, blob, challenge_seed, PROOF_CHUNKS))
        return out
