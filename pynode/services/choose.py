"""Which peer a client asks, sans-IO: ranked by measured latency and the load its answers reported, peers that
just failed us ranked last for a while, ties broken at random so equal servers share the work."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from pynode.services.limits import FAILURE_COOLDOWN_S, LATENCY_PRIOR_S, PEER_STATS_TTL_S

EWMA = 0.3  # weight of the newest latency sample: a few calls follow a peer that got slower


@dataclass
class PeerStat:
    latency_s: float
    load: int  # permille, as its last answer said
    seen: float
    failed_at: float | None = None
    inflight: int = 0  # our calls to it right now
    samples: int = 0  # latencies measured


class Picker:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.stats: dict[bytes, PeerStat] = {}

    def rank(self, candidates: Iterable[bytes], now: float) -> list[bytes]:
        """Best first: expected wait = latency × (1 + load + our calls in flight), failures last."""

        def score(peer: bytes) -> tuple[bool, float, float]:
            s = self.stats.get(peer)
            if s is None:
                return (False, LATENCY_PRIOR_S, self.rng.random())
            cooling = s.failed_at is not None and now - s.failed_at < FAILURE_COOLDOWN_S
            fresh = s.samples > 0 and now - s.seen <= PEER_STATS_TTL_S
            latency = s.latency_s if fresh else LATENCY_PRIOR_S
            return (cooling, latency * (1 + s.load / 1000 + s.inflight), self.rng.random())

        return sorted(set(candidates), key=score)

    def started(self, peer: bytes, now: float) -> None:
        self._stat(peer, now).inflight += 1

    def succeeded(self, peer: bytes, latency_s: float, load: int, now: float) -> None:
        s = self._stat(peer, now)
        s.inflight = max(0, s.inflight - 1)
        s.latency_s = latency_s if s.samples == 0 else (1 - EWMA) * s.latency_s + EWMA * latency_s
        s.samples += 1
        s.load, s.seen, s.failed_at = load, now, None

    def failed(self, peer: bytes, now: float) -> None:
        s = self._stat(peer, now)
        s.inflight = max(0, s.inflight - 1)
        s.failed_at = now

    def ended(self, peer: bytes, now: float) -> None:
        """A call we gave up ourselves (neither success nor the peer's fault)."""
        s = self._stat(peer, now)
        s.inflight = max(0, s.inflight - 1)

    def _stat(self, peer: bytes, now: float) -> PeerStat:
        s = self.stats.get(peer)
        if s is None:
            s = self.stats[peer] = PeerStat(LATENCY_PRIOR_S, 0, now)
        return s
