"""Per-requester quotas of one service, sans-IO: a token bucket of calls and a count of open work."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from pynode.services.limits import MAX_TRACKED_PEERS


@dataclass
class Bucket:
    """`burst` tokens, refilled at `rate` per second; a call takes one."""

    rate: float
    burst: float
    tokens: float
    at: float  # when `tokens` was last brought up to date

    def level(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = max(self.at, now)
        return self.tokens

    def take(self, now: float) -> bool:
        if self.level(now) < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Quotas:
    """Buckets of up to MAX_TRACKED_PEERS requesters (the longest unseen is forgotten first: it would have
    refilled by then anyway) and every requester's open calls and streams."""

    def __init__(self, per_min: int, burst: int, max_peers: int = MAX_TRACKED_PEERS) -> None:
        self.rate = per_min / 60.0
        self.burst = float(burst)
        self.max_peers = max_peers
        self._buckets: OrderedDict[bytes, Bucket] = OrderedDict()
        self.open: dict[bytes, int] = {}

    def bucket(self, peer: bytes, now: float) -> Bucket:
        b = self._buckets.get(peer)
        if b is None:
            b = self._buckets[peer] = Bucket(self.rate, self.burst, self.burst, now)
            while len(self._buckets) > self.max_peers:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(peer)
        return b

    def take(self, peer: bytes, now: float) -> bool:
        return self.bucket(peer, now).take(now)

    def acquire(self, peer: bytes) -> None:
        self.open[peer] = self.open.get(peer, 0) + 1

    def release(self, peer: bytes) -> None:
        n = self.open.get(peer, 0) - 1
        if n > 0:
            self.open[peer] = n
        else:
            self.open.pop(peer, None)

    @property
    def total_open(self) -> int:
        return sum(self.open.values())
