"""A vector index of unit vectors with metadata: exact search when small, else binary codes then exact re-ranking.

Every vector also gets a binary code — the signs of its coordinates as one Python int — so the Hamming distance
to a query's code (`(a ^ b).bit_count()`, a fraction of a microsecond) estimates the angle between them. A query
takes the `max(RERANK·k, MIN_RERANK)` entries with the nearest codes and ranks those by their exact cosine.
Recall@10 against exact search is what `hyperspace bench services` measures (target ≥ 0.95). Pure Python: the
tab runs it too, and CPython 3.11 has no fast dot product (math.sumprod arrives in 3.12; used where present).

The index is a pure function of the set of entries added: codes depend on one vector each, ties break by key,
and past MAX_ENTRIES the kept set is the newest by (ts, key) whatever the order of arrival — so any replica
that rebuilds from the same records answers the same.
"""

from __future__ import annotations

import heapq
import math
import operator
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pynode.services.memory.limits import EXACT_BELOW, MAX_ENTRIES, MIN_RERANK, RERANK


def _dot_fallback(a: array, b: array) -> float:
    return sum(map(operator.mul, a, b))


dot: Callable[[array, array], float] = getattr(math, "sumprod", _dot_fallback)


def sign_code(v: array) -> int:
    """Bit i set when coordinate i is positive."""
    return int("".join("1" if x > 0 else "0" for x in reversed(v)), 2)


@dataclass(frozen=True)
class Entry:
    key: str  # the record's key
    ts: int  # the record's timestamp (which entries stay past MAX_ENTRIES)
    vector: array  # unit float32
    meta: dict[str, Any] = field(default_factory=dict)  # what a hit returns: kind, domain, task, title...


@dataclass(frozen=True)
class Hit:
    key: str
    score: float  # cosine similarity to the query
    meta: dict[str, Any]


Filter = Callable[[dict[str, Any]], bool]


class VectorIndex:
    def __init__(self, dim: int, max_entries: int = MAX_ENTRIES) -> None:
        self.dim = dim
        self.max_entries = max_entries
        self._entries: list[Entry] = []
        self._codes: list[int] = []
        self._slot: dict[str, int] = {}
        self._floor: tuple[int, str] | None = None  # (ts, key) at or below which entries no longer fit

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._slot

    def keys(self) -> set[str]:
        return set(self._slot)

    def would_keep(self, key: str, ts: int) -> bool:
        """False when the index is full of newer entries (the indexer then skips embedding it)."""
        return self._floor is None or (ts, key) > self._floor

    def add(self, entry: Entry) -> bool:
        """Add an entry (a key already present is ignored); False when it is too old to be kept."""
        if len(entry.vector) != self.dim:
            raise ValueError(f"expected a {self.dim}-float vector, got {len(entry.vector)}")
        if entry.key in self._slot or not self.would_keep(entry.key, entry.ts):
            return False
        self._slot[entry.key] = len(self._entries)
        self._entries.append(entry)
        self._codes.append(sign_code(entry.vector))
        if len(self._entries) > self.max_entries:
            self._evict_oldest()
        return entry.key in self._slot

    def _evict_oldest(self) -> None:
        i = min(range(len(self._entries)), key=lambda j: (self._entries[j].ts, self._entries[j].key))
        old = self._entries[i]
        self._floor = (old.ts, old.key) if self._floor is None else max(self._floor, (old.ts, old.key))
        last = len(self._entries) - 1
        if i != last:  # move the last entry into the hole
            self._entries[i], self._codes[i] = self._entries[last], self._codes[last]
            self._slot[self._entries[i].key] = i
        self._entries.pop()
        self._codes.pop()
        del self._slot[old.key]

    def searches_exactly(self) -> bool:
        """Whether a search ranks every entry (small indexes) or re-ranks binary-code candidates."""
        return len(self._entries) < EXACT_BELOW

    def search(
        self, query: array, k: int, keep: Filter | None = None, exact: bool | None = None
    ) -> list[Hit]:
        """The k entries most similar to `query` (a unit vector) that `keep` accepts, best first.
        `exact`: None chooses by size (EXACT_BELOW); True/False force a path (the benchmark compares them)."""
        if len(query) != self.dim:
            raise ValueError(f"expected a {self.dim}-float query, got {len(query)}")
        slots: Iterable[int] = range(len(self._entries))
        if keep is not None:
            slots = [i for i in slots if keep(self._entries[i].meta)]
        if exact is None:
            exact = self.searches_exactly()
        if not exact:
            q = sign_code(query)
            codes = self._codes
            slots = heapq.nsmallest(
                max(RERANK * k, MIN_RERANK), slots, key=lambda i: (codes[i] ^ q).bit_count()
            )
        scored = ((dot(query, self._entries[i].vector), self._entries[i].key, i) for i in slots)
        best = heapq.nsmallest(k, scored, key=lambda s: (-s[0], s[1]))
        return [Hit(key, float(score), self._entries[i].meta) for score, key, i in best]
