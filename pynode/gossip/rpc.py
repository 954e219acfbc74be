"""The gossip RPC frame (PROTOCOL.md §5): subscriptions, messages and GossipSub control in one CBOR map.

`RPC.from_wire` checks every field against pynode.wire.limits before the router sees it, so the router can
trust shapes and sizes and only has to judge behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.limits import MAX_BACKOFF_S
from pynode.wire import cbor
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError
from pynode.wire.limits import (
    MAX_CONTROL_TOPICS,
    MAX_FRAME_BYTES,
    MAX_IHAVE_IDS,
    MAX_IWANT_IDS,
    MAX_MESSAGES_PER_RPC,
    MAX_PX_PEERS,
    MAX_SUBSCRIPTIONS_PER_RPC,
    MSG_ID_BYTES,
)
from pynode.wire.schema import check_topic, expect_map, get_int, get_list

PEER_ID_BYTES = 32


@dataclass(frozen=True)
class SubOpt:
    """A subscription change: subscribe to or leave a topic."""

    subscribe: bool
    topic: str


@dataclass(frozen=True)
class Prune:
    """A PRUNE control message: leave the sender's mesh for a topic, with peer exchange and backoff."""

    topic: str
    px: list[bytes] = field(default_factory=list)  # peer exchange: other peers of the topic
    backoff: int = 0  # seconds before the pruned peer may GRAFT again


@dataclass
class RPC:
    """One GossipSub RPC: subscriptions, messages and control messages for one peer."""

    subs: list[SubOpt] = field(default_factory=list)
    msgs: list[Envelope] = field(default_factory=list)
    ihave: list[tuple[str, list[bytes]]] = field(default_factory=list)
    iwant: list[bytes] = field(default_factory=list)
    graft: list[str] = field(default_factory=list)
    prune: list[Prune] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.subs or self.msgs or self.ihave or self.iwant or self.graft or self.prune)

    def to_wire(self) -> dict[str, Any]:
        frame: dict[str, Any] = {"t": "rpc"}
        if self.subs:
            frame["subs"] = [{"sub": s.subscribe, "topic": s.topic} for s in self.subs]
        if self.msgs:
            frame["msgs"] = [m.to_wire() for m in self.msgs]
        ctrl: dict[str, Any] = {}
        if self.ihave:
            ctrl["ihave"] = [{"topic": t, "ids": list(ids)} for t, ids in self.ihave]
        if self.iwant:
            ctrl["iwant"] = list(self.iwant)
        if self.graft:
            ctrl["graft"] = list(self.graft)
        if self.prune:
            ctrl["prune"] = [{"topic": p.topic, "px": list(p.px), "backoff": p.backoff} for p in self.prune]
        if ctrl:
            frame["ctrl"] = ctrl
        return frame

    def encode(self) -> bytes:
        return cbor.encode(self.to_wire())

    @classmethod
    def decode(cls, buf: bytes) -> RPC:
        return cls.from_wire(cbor.decode(buf))

    @classmethod
    def from_wire(cls, value: Any) -> RPC:
        d = expect_map(value, "rpc", {"t"}, {"subs", "msgs", "ctrl"})
        if d["t"] != "rpc":
            raise WireError("bad_field", "t must be 'rpc'")
        rpc = cls()
        if "subs" in d:
            for s in _nonempty_list(d, "subs", MAX_SUBSCRIPTIONS_PER_RPC):
                s = expect_map(s, "subscription", {"sub", "topic"})
                if not isinstance(s["sub"], bool):
                    raise WireError("bad_field", "sub must be a boolean")
                rpc.subs.append(SubOpt(s["sub"], check_topic(s["topic"])))
        if "msgs" in d:
            rpc.msgs = [Envelope.from_wire(m) for m in _nonempty_list(d, "msgs", MAX_MESSAGES_PER_RPC)]
        if "ctrl" in d:
            ctrl = expect_map(d["ctrl"], "ctrl", set(), {"ihave", "iwant", "graft", "prune"})
            if not ctrl:
                raise WireError("bad_field", "ctrl must not be empty")
            _control_from_wire(ctrl, rpc)
        return rpc


def _control_from_wire(ctrl: dict[str, Any], rpc: RPC) -> None:
    if "ihave" in ctrl:
        total = 0
        for item in _nonempty_list(ctrl, "ihave", MAX_CONTROL_TOPICS):
            item = expect_map(item, "ihave", {"topic", "ids"})
            ids = _ids(item, "ids", MAX_IHAVE_IDS - total)
            total += len(ids)
            rpc.ihave.append((check_topic(item["topic"]), ids))
    if "iwant" in ctrl:
        rpc.iwant = _ids(ctrl, "iwant", MAX_IWANT_IDS)
    if "graft" in ctrl:
        rpc.graft = [check_topic(t) for t in _nonempty_list(ctrl, "graft", MAX_CONTROL_TOPICS)]
    if "prune" in ctrl:
        for item in _nonempty_list(ctrl, "prune", MAX_CONTROL_TOPICS):
            item = expect_map(item, "prune", {"topic", "px", "backoff"})
            px = [_bytes_item(p, PEER_ID_BYTES, "px peer") for p in get_list(item, "px", MAX_PX_PEERS)]
            rpc.prune.append(
                Prune(check_topic(item["topic"]), px, get_int(item, "backoff", hi=MAX_BACKOFF_S))
            )


def _nonempty_list(d: dict[str, Any], key: str, max_len: int) -> list[Any]:
    # PROTOCOL.md §5 omits empty keys, so an empty list is a non-canonical frame
    items = get_list(d, key, max_len)
    if not items:
        raise WireError("bad_field", f"{key} must be omitted when empty")
    return items


def _ids(d: dict[str, Any], key: str, max_len: int) -> list[bytes]:
    return [_bytes_item(i, MSG_ID_BYTES, "message id") for i in _nonempty_list(d, key, max_len)]


def _bytes_item(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise WireError("bad_field", f"{what} must be {size} bytes")
    return value


# room left in a frame for everything but messages: full IHAVE and IWANT lists plus control and subscriptions
_MSGS_BYTE_BUDGET = MAX_FRAME_BYTES - (MAX_IHAVE_IDS + MAX_IWANT_IDS) * (MSG_ID_BYTES + 2) - 64 * 1024
_ENVELOPE_OVERHEAD = 200  # field names, sender, seqno, ts, signature and CBOR headers, generously


def split(rpc: RPC) -> list[RPC]:
    """Cut an outgoing RPC into frames that each pass the receiver's limits (PROTOCOL.md §6)."""
    sizes = [len(m.data) + len(m.topic) + _ENVELOPE_OVERHEAD for m in rpc.msgs]
    if (
        len(rpc.subs) <= MAX_SUBSCRIPTIONS_PER_RPC
        and len(rpc.msgs) <= MAX_MESSAGES_PER_RPC
        and sum(sizes) <= _MSGS_BYTE_BUDGET
        and len(rpc.ihave) <= MAX_CONTROL_TOPICS
        and sum(len(ids) for _, ids in rpc.ihave) <= MAX_IHAVE_IDS
        and len(rpc.iwant) <= MAX_IWANT_IDS
        and len(rpc.graft) <= MAX_CONTROL_TOPICS
        and len(rpc.prune) <= MAX_CONTROL_TOPICS
    ):
        return [rpc]
    # messages too big to share a frame travel alone; everything else is cut into parallel chunks
    alone = [RPC(msgs=[m]) for m, size in zip(rpc.msgs, sizes, strict=True) if size > _MSGS_BYTE_BUDGET]
    msg_chunks: list[list[Envelope]] = []
    budget = 0
    for m, size in zip(rpc.msgs, sizes, strict=True):
        if size > _MSGS_BYTE_BUDGET:
            continue
        if not msg_chunks or len(msg_chunks[-1]) == MAX_MESSAGES_PER_RPC or budget + size > _MSGS_BYTE_BUDGET:
            msg_chunks.append([])
            budget = 0
        msg_chunks[-1].append(m)
        budget += size
    ihave_chunks: list[list[tuple[str, list[bytes]]]] = []
    room = 0
    for topic, ids in rpc.ihave:
        while ids:
            if not ihave_chunks or room == 0 or len(ihave_chunks[-1]) == MAX_CONTROL_TOPICS:
                ihave_chunks.append([])
                room = MAX_IHAVE_IDS
            ihave_chunks[-1].append((topic, ids[:room]))
            ids = ids[room:]
            room -= len(ihave_chunks[-1][-1][1])
    subs = _chunks(rpc.subs, MAX_SUBSCRIPTIONS_PER_RPC)
    iwant = _chunks(rpc.iwant, MAX_IWANT_IDS)
    graft = _chunks(rpc.graft, MAX_CONTROL_TOPICS)
    prune = _chunks(rpc.prune, MAX_CONTROL_TOPICS)
    n = max(len(subs), len(msg_chunks), len(ihave_chunks), len(iwant), len(graft), len(prune))

    def nth(chunks: list[list[Any]], i: int) -> list[Any]:
        return chunks[i] if i < len(chunks) else []

    parts = [
        RPC(
            nth(subs, i),
            nth(msg_chunks, i),
            nth(ihave_chunks, i),
            nth(iwant, i),
            nth(graft, i),
            nth(prune, i),
        )
        for i in range(n)
    ]
    return parts + alone


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
