"""A counter-based PRNG (SplitMix64) in plain Python, so CPython and Pyodide draw identical numbers.

Python's `random` is deterministic too, but its algorithms for choice/shuffle may change between versions;
a run's batches and initial parameters must not. Every draw is a pure function of (seed, counters), which
lets a validator compute the batch of step s without replaying steps 0..s-1.
"""

from __future__ import annotations

from array import array

_MASK = (1 << 64) - 1
_GAMMA, _MUL1, _MUL2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_COUNTERS_KEPT = 1 << 16  # splitmix64(n) kept for counters n below this (~3 MB): shared by every stream


def splitmix64(x: int) -> int:
    x = (x + _GAMMA) & _MASK
    x = ((x ^ (x >> 30)) * _MUL1) & _MASK
    x = ((x ^ (x >> 27)) * _MUL2) & _MASK
    return x ^ (x >> 31)


def mix(*values: int) -> int:
    """A 64-bit key from several integers (seed, shard, step, ...)."""
    h = 0
    for v in values:
        h = splitmix64(h ^ (v & _MASK))
    return h


_counters: list[int] = [0]  # _counters[n] = splitmix64(n) for n ≥ 1, grown on demand


def _counter_hashes(first: int, count: int) -> list[int]:
    """splitmix64(n) for n in first .. first+count-1: the half of a draw that is the same in every stream."""
    end = first + count
    kept = min(end, _COUNTERS_KEPT)
    for n in range(len(_counters), kept):
        _counters.append(splitmix64(n))
    return _counters[first:kept] + [splitmix64(n) for n in range(max(first, kept), end)]


def _draws(key: int, first: int, count: int) -> list[int]:
    """Draws first .. first+count-1 of the stream `key`: next_u64's values, splitmix64 inlined for speed."""
    out = []
    append = out.append
    for c in _counter_hashes(first, count):
        x = ((key ^ c) + _GAMMA) & _MASK
        x = ((x ^ (x >> 30)) * _MUL1) & _MASK
        x = ((x ^ (x >> 27)) * _MUL2) & _MASK
        append(x ^ (x >> 31))
    return out


class Stream:
    """Sequential draws from one key."""

    def __init__(self, key: int) -> None:
        self._key = key
        self._n = 0

    def next_u64(self) -> int:
        self._n += 1
        return splitmix64(self._key ^ splitmix64(self._n))

    def _next(self, count: int) -> list[int]:
        first = self._n + 1
        self._n += count
        return _draws(self._key, first, count)

    def below(self, n: int) -> int:
        # 64 random bits modulo a small n: bias < n / 2^64, irrelevant here
        return self.next_u64() % n

    def belows(self, n: int, count: int) -> list[int]:
        """`count` draws of `below(n)` at once, the same numbers as `below` called `count` times."""
        return [x % n for x in self._next(count)]

    def uniform(self) -> float:
        """In (0, 1): 53 random bits, never 0 so log() is safe."""
        return ((self.next_u64() >> 11) + 0.5) / (1 << 53)

    def uniforms(self, n: int, bound: float) -> array:
        """`n` draws from U(-bound, bound) as float32. Only +, *, / — IEEE-exact everywhere, whereas libm's
        log/cos (Box–Muller) may differ in the last bit between glibc and the browser's musl."""
        scale = 2.0 * bound / (1 << 53)
        return array("f", [(x >> 11) * scale - bound for x in self._next(n)])

    def permutation(self, n: int) -> list[int]:
        """Fisher–Yates over range(n)."""
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            p[i], p[j] = p[j], p[i]
        return p
