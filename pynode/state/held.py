"""Gossiped updates that arrived before their dependencies, held until a document holds what they need.

Gossip outruns causality: a replica that missed one update gets the next ones first. Dropping them left the
records waiting for the next anti-entropy pull that happened to bring everything; holding them lets the
replica import each as soon as its dependencies arrive, by whatever path (a later gossip, a pull).

Nothing here trusts the updates: `ready` only says which ones the headers say can now be imported; the store
still validates them in full. Memory is bounded (HELD_UPDATES, HELD_BYTES, HELD_PER_AUTHOR, oldest dropped
first) and an update held longer than HELD_TTL_MS expires. The expiry counts against its author (`strikes`)
only when the author itself was asked meanwhile (a pull to it answered without them, or failed): an honest
author always holds its own dependencies, while a replica that is merely behind (restarted, cut off, on a
slow machine) must not blame the honest authors whose history it has not caught up with yet.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, replace

from pynode.platform.crdt import BlobMeta, VersionVector
from pynode.state.limits import HELD_BYTES, HELD_PER_AUTHOR, HELD_TTL_MS, HELD_UPDATES, MAX_STRIKE_AUTHORS


@dataclass(frozen=True)
class Held:
    doc: str
    blob: bytes
    meta: BlobMeta
    author: bytes
    expires_ms: int
    asked: bool = False  # a pull to its author ended since it was held


class HeldUpdates:
    def __init__(self) -> None:
        self._items: OrderedDict[int, Held] = OrderedDict()  # oldest first
        self._next = 0
        self.bytes = 0
        self.strikes: Counter[bytes] = Counter()  # updates of each author that expired unresolved
        self.dropped = 0  # pushed out by the bounds

    def __len__(self) -> int:
        return len(self._items)

    def hold(self, doc: str, blob: bytes, meta: BlobMeta, author: bytes, now_ms: int) -> None:
        mine = [k for k, h in self._items.items() if h.author == author]
        if len(mine) >= HELD_PER_AUTHOR:
            self._drop(mine[0])  # one author cannot take the whole queue
        self._items[self._next] = Held(doc, blob, meta, author, now_ms + HELD_TTL_MS)
        self._next += 1
        self.bytes += len(blob)
        while len(self._items) > HELD_UPDATES or self.bytes > HELD_BYTES:
            self._drop(next(iter(self._items)))

    def take_ready(self, versions: dict[str, VersionVector], now_ms: int) -> list[Held]:
        """Remove and return the updates whose dependencies `versions` now hold (oldest first); expire the
        ones held too long, counting a strike against their authors."""
        ready = []
        for key, h in list(self._items.items()):
            if not h.meta.missing_from(versions.get(h.doc, {})):
                ready.append(h)
                self._remove(key)
            elif now_ms >= h.expires_ms:
                self._remove(key)
                if not h.asked:
                    continue
                if len(self.strikes) >= MAX_STRIKE_AUTHORS and h.author not in self.strikes:
                    self.strikes.clear()  # bounded memory; an attacker's strikes restart, nothing worse
                self.strikes[h.author] += 1
        return ready

    def waiting_on(self) -> list[bytes]:
        """Authors of held updates not asked for their dependencies yet (oldest first): whom to pull next."""
        return list(dict.fromkeys(h.author for h in self._items.values() if not h.asked))

    def asked(self, peer: bytes) -> None:
        """A pull to `peer` ended (answered or failed): its updates held now have had their chance."""
        for key, h in self._items.items():
            if h.author == peer and not h.asked:
                self._items[key] = replace(h, asked=True)

    def forget(self, author: bytes) -> None:
        """Drop everything held from `author` (it was penalised)."""
        for key in [k for k, h in self._items.items() if h.author == author]:
            self._remove(key)
        self.strikes.pop(author, None)

    def _drop(self, key: int) -> None:
        self._remove(key)
        self.dropped += 1

    def _remove(self, key: int) -> None:
        h = self._items.pop(key)
        self.bytes -= len(h.blob)
