"""Storage under churn: many `StorageCore`s exchanging their real requests and answers in memory.

Every call is delivered at once and answered by the production code (the same methods the service hosts);
time advances one upkeep round at a time. A departed node answers nothing: calls to it fail as they would
with a timeout. `run_churn` stores blobs on a network, removes a share of the nodes (and so of every blob's
holders), runs upkeep rounds and counts each blob's holders: `replicas_after_churn` is the smallest count.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from pynode.services.storage import messages as msg
from pynode.services.storage.backend import MemoryBackend
from pynode.services.storage.core import Challenge, Offer, Output, Probe, Pull, StorageCore
from pynode.services.storage.fetch import Ask, Done, Fetch, GaveUp, Penalise
from pynode.services.storage.holdings import Holdings, Refused
from pynode.services.storage.limits import DEFAULT_REPLICAS, DEFAULT_TTL_S, UPKEEP_INTERVAL_S
from pynode.services.storage.manifest import split
from pynode.wire.errors import WireError


class Unreachable(Exception):
    """The peer is gone (or refused): what a timeout or a refusal is to the caller."""


@dataclass
class StorageNetwork:
    replicas: int = DEFAULT_REPLICAS
    capacity: int = 64 * 1024 * 1024
    now: float = 1_000_000.0
    nodes: dict[bytes, StorageCore] = field(default_factory=dict)
    penalties: list[tuple[bytes, bytes, str]] = field(default_factory=list)  # (by, peer, code)

    def add(self, peer: bytes) -> StorageCore:
        core = StorageCore(peer, Holdings(peer, MemoryBackend(), self.capacity), self.replicas)
        self.nodes[peer] = core
        self._refresh()
        return core

    def remove(self, peer: bytes) -> None:
        del self.nodes[peer]
        self._refresh()

    def _refresh(self) -> None:
        for core in self.nodes.values():
            core.set_peers(set(self.nodes), self.now)

    # ---- calls, answered by the production code --------------------------------------------------------

    def call(self, caller: bytes, peer: bytes, method: str, args: dict[str, Any]) -> Any:
        core = self.nodes.get(peer)
        if core is None:
            raise Unreachable("gone")
        try:
            if method == msg.MANIFEST:
                return core.answer_manifest(msg.parse_blob(args))
            if method == msg.CHUNK:
                return core.answer_chunk(msg.parse_chunk(args), self.now)
            if method == msg.HAS:
                return core.answer_has(msg.parse_has(args))
            if method == msg.PROVE:
                return core.answer_prove(caller, msg.parse_prove(args), self.now)
            answer, outputs = core.offer(caller, msg.parse_offer(args), self.now)
        except (Refused, WireError) as e:
            raise Unreachable(str(e)) from None
        self.carry_out(peer, outputs)
        return answer

    def fetch(self, me: bytes, blob: bytes, holders: list[bytes]) -> bytes | None:
        """Run the fetch machine against the network; None when it gave up."""
        f = Fetch(blob, holders)
        todo = list(f.start())
        while todo:
            out = todo.pop(0)
            if isinstance(out, Ask):
                try:
                    todo += f.answered(out, self.call(me, out.peer, out.method, out.args))
                except Unreachable as e:
                    todo += f.failed(out, str(e))
            elif isinstance(out, Penalise):
                self.penalties.append((me, out.peer, out.code))
                if me in self.nodes:
                    self.nodes[me].exclude(out.peer, self.now)
            elif isinstance(out, Done):
                return out.data
            elif isinstance(out, GaveUp):
                return None
        return None

    def carry_out(self, me: bytes, outputs: list[Output]) -> None:
        core = self.nodes.get(me)
        for out in outputs:
            if core is None:
                return
            if isinstance(out, Pull):
                data = self.fetch(me, out.manifest.blob, out.holders)
                if data is None:
                    core.pull_failed(out)
                else:
                    core.pulled(out, split(data)[1], self.now)
            elif isinstance(out, Probe):
                try:
                    held = self.call(me, out.peer, msg.HAS, {"blobs": out.blobs})
                    self.carry_out(me, core.probed(out.peer, out.blobs, held, self.now))
                except Unreachable:
                    core.probe_failed(out.peer, out.blobs)
            elif isinstance(out, Offer):
                blob = out.args["manifest"]["blob"]
                try:
                    core.offered(out.peer, blob, self.call(me, out.peer, msg.OFFER, out.args))
                except Unreachable:
                    core.offered(out.peer, blob, None)
            elif isinstance(out, Challenge):
                self._challenge(core, out)

    def _challenge(self, core: StorageCore, c: Challenge) -> None:
        args = {"blob": c.blob, "seed": c.seed, "count": c.count}
        try:
            answers = self.call(core.me, c.peer, msg.PROVE, args)
        except Unreachable:
            answers = None
        self.carry_out(core.me, core.proved(c, answers, self.now))

    # ---- the scenario's steps ----------------------------------------------------------------------------

    def store(self, owner: bytes, data: bytes) -> bytes:
        """`owner` publishes `data`: keeps it and offers it to its placement (as the runtime's put does)."""
        core = self.nodes[owner]
        manifest, chunks = split(data)
        core.store_own(manifest, chunks, DEFAULT_TTL_S, self.now)
        self.carry_out(owner, core.tick(self.now, _seed(self.now, owner)))
        return manifest.blob

    def upkeep(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            self.now += UPKEEP_INTERVAL_S
            for peer in list(self.nodes):
                if peer in self.nodes:
                    self.carry_out(peer, self.nodes[peer].tick(self.now, _seed(self.now, peer)))

    def holders(self, blob: bytes) -> int:
        return sum(1 for core in self.nodes.values() if core.holdings.has(blob))


def _seed(now: float, peer: bytes) -> bytes:
    return hashlib.sha256(repr(now).encode() + peer).digest()


def run_churn(
    nodes: int = 30,
    blobs: int = 60,
    churn: float = 0.3,
    waves: int = 6,
    rounds_per_wave: int = 3,
    replicas: int = DEFAULT_REPLICAS,
    seed: int = 1,
) -> dict[str, Any]:
    """Store `blobs` on `nodes` nodes and let placement settle; then `churn` × nodes of the original nodes
    leave in `waves` waves (as many fresh, empty nodes join), `rounds_per_wave` upkeep rounds apart (one round is
    UPKEEP_INTERVAL_S). Counts every blob's holders after each wave and at the end. Deterministic."""
    rng = random.Random(seed)
    net = StorageNetwork(replicas=replicas)
    fresh = iter(hashlib.sha256(b"peer" + i.to_bytes(4, "big")).digest() for i in range(10**6))
    original = [next(fresh) for _ in range(nodes)]
    for p in original:
        net.add(p)
    ids = [net.store(rng.choice(original), rng.randbytes(rng.randrange(1, 300_000))) for _ in range(blobs)]
    net.upkeep(rounds_per_wave)
    before = min(net.holders(b) for b in ids)
    leaving = rng.sample(original, round(churn * nodes))
    lowest = before
    for w in range(waves):
        for p in leaving[w::waves]:
            net.remove(p)
            net.add(next(fresh))
        lowest = min(lowest, min(net.holders(b) for b in ids))
        net.upkeep(rounds_per_wave)
    return {
        "nodes": nodes,
        "blobs": blobs,
        "churn": churn,
        "waves": waves,
        "upkeep_s_between_waves": rounds_per_wave * UPKEEP_INTERVAL_S,
        "replicas": replicas,
        "replicas_before_churn": before,
        "lowest_during_churn": lowest,
        "lost": sum(1 for b in ids if net.holders(b) == 0),
        "replicas_after_churn": min(net.holders(b) for b in ids),
        "penalties": len(net.penalties),
    }
