"""Admission control: a token bucket for per-peer rates and a cap on sockets per client address."""

from __future__ import annotations

from collections import Counter


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`. Time is passed in, so tests need no clock."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._last = now

    def take(self, amount: float, now: float) -> bool:
        self._refill(now)
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True

    def wait(self, amount: float, now: float) -> float:
        """Seconds until `amount` tokens are there (0 when they are; inf when more than a burst is asked)."""
        self._refill(now)
        if amount > self.burst:
            return float("inf")
        return max(0.0, amount - self.tokens) / self.rate

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self._last) * self.rate)
        self._last = now


class ConnectionCap:
    """Counts open sockets per client address and refuses those beyond `per_ip`."""

    def __init__(self, per_ip: int) -> None:
        self.per_ip = per_ip
        self._open: Counter[str] = Counter()

    def acquire(self, ip: str) -> bool:
        if self._open[ip] >= self.per_ip:
            return False
        self._open[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self._open[ip] -= 1
        if self._open[ip] <= 0:
            del self._open[ip]
