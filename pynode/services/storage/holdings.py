"""What a holder keeps, for whom and until when: capacity, per-peer quotas, expiry and eviction.

Eviction (what goes, and when):
1. Expired blobs, at every upkeep: a blob lives until the expiry its owner asked for (at most MAX_TTL_S), and
   storing it again extends it.
2. When an accepted store needs room: first expired blobs, then *surplus* copies — blobs this node holds but is
   no longer among the r placement holders of (placement moved after arrivals, or a copy fetched for its own
   use) — least recently used first.
3. Nothing else: a blob this node is a placement holder for, and a blob it published itself, stay until they
   expire; a store that would need them gone is refused ("full") and the owner's client tries the next holder.
4. A blob with a chunk that no longer matches its hash (a damaged disk) is dropped when the damage is read.

Quotas: everything a peer asked this node to keep (complete or still being pulled) counts against that peer,
at most capacity / PEER_SHARE, so no single peer fills a holder. Time is wall-clock seconds passed in (`now`):
expiries outlive restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pynode.services.codec import BAD_REQUEST, BUSY, RATE_LIMITED, TOO_LARGE
from pynode.services.storage.backend import Backend, Entry, chunk_ok
from pynode.services.storage.limits import MAX_TTL_S, MIN_TTL_S, PEER_SHARE
from pynode.services.storage.manifest import Manifest


class Refused(Exception):
    """A store this holder will not take: `code` is the service refusal code (`pynode/services/codec.py`),
    the text says why (both are sent to the asker)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass
class _Reservation:
    owner: bytes
    size: int


class Holdings:
    def __init__(self, me: bytes, backend: Backend, capacity: int, peer_quota: int | None = None) -> None:
        self.me = me
        self.backend = backend
        self.capacity = capacity
        self.peer_quota = peer_quota if peer_quota is not None else capacity // PEER_SHARE
        self.entries: dict[bytes, Entry] = {e.manifest.blob: e for e in backend.load()}
        self._pending: dict[bytes, _Reservation] = {}  # blobs being pulled: room held for them
        self.evicted = 0  # blobs dropped to make room or at expiry (a counter for the status card)

    # ---- questions ------------------------------------------------------------------------------------

    def has(self, blob: bytes) -> bool:
        return blob in self.entries

    def manifest(self, blob: bytes) -> Manifest | None:
        e = self.entries.get(blob)
        return e.manifest if e is not None else None

    def used(self) -> int:
        return sum(e.manifest.size for e in self.entries.values()) + sum(
            r.size for r in self._pending.values()
        )

    def usage(self, owner: bytes) -> int:
        held = sum(e.manifest.size for e in self.entries.values() if e.owner == owner)
        return held + sum(r.size for r in self._pending.values() if r.owner == owner)

    def pending(self, owner: bytes | None = None) -> int:
        return sum(1 for r in self._pending.values() if owner is None or r.owner == owner)

    def is_pending(self, blob: bytes) -> bool:
        return blob in self._pending

    def chunk(self, blob: bytes, index: int, now: float) -> bytes | None:
        """Chunk `index` of a held blob, checked against its hash (a damaged blob is dropped: None)."""
        e = self.entries.get(blob)
        if e is None or not 0 <= index < e.manifest.chunks:
            return None
        data = self.backend.chunk(blob, index)
        if not chunk_ok(e.manifest, index, data):
            self.drop(blob)
            return None
        e.last_used = now
        return data

    # ---- storing --------------------------------------------------------------------------------------

    def reserve(
        self, owner: bytes, manifest: Manifest, ttl_s: int, now: float, surplus: Callable[[bytes], bool]
    ) -> None:
        """Hold room for a blob `owner` asks us to keep, evicting what the policy allows; raises Refused.
        A blob already held only has its expiry extended (no room needed)."""
        blob = manifest.blob
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise Refused(BAD_REQUEST, f"ttl must be {MIN_TTL_S}..{MAX_TTL_S} s")
        if blob in self.entries:
            e = self.entries[blob]
            if now + ttl_s > e.expires:
                e.expires = now + ttl_s
                self.backend.update(e)
            return
        if blob in self._pending:
            raise Refused(BUSY, "already being stored")
        if manifest.size > self.capacity:
            raise Refused(
                TOO_LARGE, f"blob of {manifest.size} bytes is larger than this holder ({self.capacity})"
            )
        if owner != self.me and self.usage(owner) + manifest.size > self.peer_quota:
            raise Refused(RATE_LIMITED, f"quota: {self.usage(owner)} of {self.peer_quota} bytes used")
        self.make_room(manifest.size, now, surplus)
        self._pending[blob] = _Reservation(owner, manifest.size)

    def release(self, blob: bytes) -> None:
        """A reserved store did not complete."""
        self._pending.pop(blob, None)

    def keep(
        self, manifest: Manifest, chunks: list[bytes], owner: bytes, expires: float, own: bool, now: float
    ) -> None:
        """Store a verified blob (reserved first, or our own)."""
        self._pending.pop(manifest.blob, None)
        old = self.entries.get(manifest.blob)
        if old is not None:
            old.expires = max(old.expires, expires)
            old.own = old.own or own
            self.backend.update(old)
            return
        entry = Entry(manifest, owner, expires, own, now)
        self.backend.save(entry, chunks)
        self.entries[manifest.blob] = entry

    # ---- forgetting -----------------------------------------------------------------------------------

    def drop(self, blob: bytes) -> None:
        if self.entries.pop(blob, None) is not None:
            self.backend.delete(blob)

    def expire(self, now: float) -> list[bytes]:
        gone = [b for b, e in self.entries.items() if e.expires <= now]
        for b in gone:
            self.drop(b)
        self.evicted += len(gone)
        return gone

    def make_room(self, size: int, now: float, surplus: Callable[[bytes], bool]) -> list[bytes]:
        """Evict expired blobs, then surplus copies least recently used first, until `size` bytes fit;
        raises Refused (evicting nothing) when the policy cannot free enough."""
        free = self.capacity - self.used()
        if free >= size:
            return []
        expired = [e for e in self.entries.values() if e.expires <= now]
        spare = sorted(
            (e for e in self.entries.values() if e.expires > now and not e.own and surplus(e.manifest.blob)),
            key=lambda e: e.last_used,
        )
        victims: list[bytes] = []
        for e in expired + spare:
            if free >= size:
                break
            victims.append(e.manifest.blob)
            free += e.manifest.size
        if free < size:
            raise Refused(BUSY, f"full: {self.capacity - self.used()} bytes free, {size} needed")
        for b in victims:
            self.drop(b)
        self.evicted += len(victims)
        return victims
