"""A counter-based PRNG (SplitMix64) in plain Python, so CPython and Pyodide draw identical numbers.

Python's `random` is deterministic too, but its algorithms for choice/shuffle may change between versions;
a run's batches and initial parameters must not. Every draw is a pure function of (seed, counters), which
lets a validator compute the batch of step s without replaying steps 0..s-1.
"""

from __future__ import annotations

from array import array

_MASK = (1 << 64) - 1


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix(*values: int) -> int:
    """A 64-bit key from several integers (seed, shard, step, ...)."""
    h = 0
    for v in values:
        h = splitmix64(h ^ (v & _MASK))
    return h


class Stream:
    """Sequential draws from one key."""

    def __init__(self, key: int) -> None:
        self._key = key
        self._n = 0

    def next_u64(self) -> int:
        self._n += 1
        return splitmix64(self._key ^ splitmix64(self._n))

    def below(self, n: int) -> int:
        # 64 random bits modulo a small n: bias < n / 2^64, irrelevant here
        return self.next_u64() % n

    def uniform(self) -> float:
        """In (0, 1): 53 random bits, never 0 so log() is safe."""
        return ((self.next_u64() >> 11) + 0.5) / (1 << 53)

    def uniforms(self, n: int, bound: float) -> array:
        """`n` draws from U(-bound, bound) as float32. Only +, *, / — IEEE-exact everywhere, whereas libm's
        log/cos (Box–Muller) may differ in the last bit between glibc and the browser's musl."""
        out = array("f", bytes(4 * n))
        scale = 2.0 * bound / (1 << 53)
        for i in range(n):
            out[i] = (self.next_u64() >> 11) * scale - bound
        return out

    def permutation(self, n: int) -> list[int]:
        """Fisher–Yates over range(n)."""
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            p[i], p[j] = p[j], p[i]
        return p
