"""What a router keeps for peers that arrive late: recent messages by topic, and own messages nobody got.

GossipSub's message cache advertises ids for 3 heartbeats only, so a node that was cut off for longer (a relay
outage, a restart, a fail-over to another relay) never hears of what was published meanwhile, and a message
published while its node had no peer in the topic goes nowhere. `History` keeps recent messages longer, for a
newly subscribed peer to be told of (IHAVE) and to ask for (IWANT); `Held` keeps our own messages that had no
peer to go to, to be pushed to the first peers that subscribe. Both are bounded by count, bytes and age, and an
entry is dropped while a receiver would still accept it: its age is the envelope's own (`ts`, read by the
runtime's clock), not the time we got it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from pynode.wire.envelope import Envelope


@dataclass(slots=True)
class _Kept:
    """An envelope kept in the topic history until it expires."""

    env: Envelope
    expires: float  # router time after which a receiver might refuse the envelope as stale


class History:
    """Recent messages per topic, oldest evicted first when over `max_messages` or `max_bytes`."""

    def __init__(self, ttl: float, max_messages: int, max_bytes: int) -> None:
        self._ttl = ttl
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._kept: OrderedDict[bytes, _Kept] = OrderedDict()  # in arrival order
        self._by_topic: dict[str, OrderedDict[bytes, None]] = {}
        self._bytes = 0
        self._next_expiry = float("inf")

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, msg_id: bytes) -> bool:
        return msg_id in self._kept

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, env: Envelope, now: float, age: float) -> None:
        """Keep `env`, which was `age` seconds old at `now`, for as long as it is younger than the ttl."""
        mid = env.msg_id
        left = self._ttl - max(0.0, age)
        if left <= 0 or mid in self._kept or len(env.data) > self._max_bytes:
            return
        expires = now + left
        self._kept[mid] = _Kept(env, expires)
        self._by_topic.setdefault(env.topic, OrderedDict())[mid] = None
        self._bytes += len(env.data)
        self._next_expiry = min(self._next_expiry, expires)
        while len(self._kept) > self._max_messages or self._bytes > self._max_bytes:
            self._drop(next(iter(self._kept)))

    def get(self, msg_id: bytes) -> Envelope | None:
        kept = self._kept.get(msg_id)
        return kept.env if kept is not None else None

    def ids(self, topic: str, limit: int) -> list[bytes]:
        """The newest `limit` ids of `topic`, oldest first."""
        ids = self._by_topic.get(topic)
        if not ids or limit <= 0:
            return []
        if len(ids) <= limit:
            return list(ids)
        newest: list[bytes] = []
        for mid in reversed(ids):
            newest.append(mid)
            if len(newest) == limit:
                break
        newest.reverse()
        return newest

    def expire(self, now: float) -> None:
        if now < self._next_expiry:
            return
        for mid in [m for m, kept in self._kept.items() if kept.expires <= now]:
            self._drop(mid)
        self._next_expiry = min((k.expires for k in self._kept.values()), default=float("inf"))

    def _drop(self, mid: bytes) -> None:
        kept = self._kept.pop(mid)
        self._bytes -= len(kept.env.data)
        ids = self._by_topic[kept.env.topic]
        del ids[mid]
        if not ids:
            del self._by_topic[kept.env.topic]


@dataclass(slots=True)
class _Held:
    """An own message held for peers to take, with the peers it was pushed to."""

    env: Envelope
    expires: float
    pushed_to: set[bytes] = field(default_factory=set)


class Held:
    """Own messages published while no peer could take them, until `release_after` peers got each, or expiry.

    A peer is pushed each message once however often it subscribes, and a message leaves once `release_after`
    different peers got it, so neither a peer that (un)subscribes in a loop nor many identities make it cost more
    than `release_after` copies; it stays in `History` for later peers.
    """

    def __init__(self, ttl: float, max_messages: int, max_bytes: int, release_after: int) -> None:
        self._ttl = ttl
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._release_after = max(1, release_after)
        self._held: OrderedDict[bytes, _Held] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._held)

    def topics(self) -> list[str]:
        """Topics with held messages, in a fixed order (a seeded router must draw its randomness alike)."""
        return sorted({h.env.topic for h in self._held.values()})

    def hold(self, env: Envelope, now: float, age: float = 0.0) -> int:
        """Hold `env`, `age` seconds old at `now`; returns how many messages the bounds dropped (it, or the
        oldest held)."""
        if self._ttl - age <= 0 or len(env.data) > self._max_bytes:
            return 1
        if env.msg_id in self._held:
            return 0
        self._held[env.msg_id] = _Held(env, now + self._ttl - max(0.0, age))
        self._bytes += len(env.data)
        dropped = 0
        while len(self._held) > self._max_messages or self._bytes > self._max_bytes:
            self._drop(next(iter(self._held)))
            dropped += 1
        return dropped

    def take(self, topic: str, peer: bytes) -> list[Envelope]:
        """The held messages of `topic` that `peer` has not been pushed yet, now counted as pushed to it."""
        out: list[Envelope] = []
        for mid, held in list(self._held.items()):
            if held.env.topic != topic or peer in held.pushed_to:
                continue
            held.pushed_to.add(peer)
            out.append(held.env)
            if len(held.pushed_to) >= self._release_after:
                self._drop(mid)
        return out

    def expire(self, now: float) -> int:
        """Forget what is too old to send; returns how many of those no peer was ever pushed."""
        unsent = 0
        for mid in [m for m, h in self._held.items() if h.expires <= now]:
            unsent += not self._held[mid].pushed_to
            self._drop(mid)
        return unsent

    def _drop(self, mid: bytes) -> None:
        self._bytes -= len(self._held.pop(mid).env.data)
