"""State sync as a sans-IO state machine: gossiped updates, anti-entropy pulls, chunked cold start.

Inputs: `write` (our records), `on_gossip` (an update from the state topic), `tick(now, peers)`,
`on_request` (a peer pulls from us), `on_response` / `on_failure` (our pull's outcome). Outputs: `Publish`
(gossip this), `Ask` (send this request to that peer). No sockets, no clock, no sleeps: the asyncio runtime
(replica.py) and the simulator (simulate.py) drive it. Coroutines here only await signing and verification.

Anti-entropy: every `interval` seconds a replica sends one random connected peer its version vectors
(`have`); the peer answers with every update we lack, per document, up to RESPONSE_BUDGET bytes. A
document too big for that is named in `big` and fetched in chunks by `fetch` (a cold start of a large board).
A replica with empty documents asks for snapshots (`snapshot: true`): one peer's state, validated, then the
pulls that follow catch up on whatever that snapshot missed. While updates wait on a pull (a cold start, held
gossip), one unanswered for half the timeout is asked of a second peer too (`_hedge`). A gossiped update that
arrives before its dependencies is held (held.py) and imported as soon as they do. Each author's entry in
`have` carries the chain of its ledger; an author whose history differs is left out of the answer and
compared instead (`conflicts`, then a `change` request): equivocation.py. Answers to one peer are paced
(`serve_delay`).

Our own history first: a replica that restarted without its earlier changes and wrote at once would sign new
changes under (peer, counter) ids it had used, and every replica would hold us faulty. So our writes are
`submit`ted, and `flush` commits them (in order) only once `history_known`: the store already holds changes of
ours (loaded from disk, or kept across a rejoin), the runtime says it loaded its saved state (`learn_history`),
or a pull completed and brought everything the answering peer holds of ours (its answer's `yours`: our end
counter there, per document), or HISTORY_WAIT_S passed without either (a node alone writes; see PROTOCOL.md).

  gossip   {doc: text, update: bytes}
  request  {have: {doc: [[loro peer, end counter, chain?]...]}, snapshot: bool}
         | {fetch: {doc, have, snapshot, token: bytes, offset: uint}}
         | {change: {doc, peer, start, end}}
  response {docs: {doc: bytes}, big: [doc], conflicts?: {doc: [[peer, ledger]]}, evidence?: [[change, change]],
          yours?: {doc: end counter}}
         | {chunk: {doc, token: bytes, offset, total, data: bytes}}
         | {change: change}
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, OrderedDict, deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from pynode.gossip.events import ValidationResult
from pynode.identity import Signer, verify
from pynode.net.pacer import Pacer
from pynode.platform.crdt import CrdtError, VersionVector
from pynode.state.authorship import Rejected, loro_peer
from pynode.state.equivocation import (
    DIGEST_BYTES,
    Form,
    evidence_of,
    first_difference,
    ledger_from_wire,
    ledger_to_wire,
    parse_evidence,
    parse_form,
)
from pynode.state.held import HeldUpdates
from pynode.state.limits import (
    CHUNK_BYTES,
    EXPORT_CACHE,
    EXPORT_TTL_S,
    HISTORY_WAIT_S,
    MAX_BLOB_BYTES,
    MAX_EVIDENCE_KEPT,
    MAX_GOSSIP_UPDATE,
    MAX_QUEUED_WRITES,
    MAX_STRIKES,
    MAX_VV_PEERS,
    PULL_TIMEOUT_S,
    RESPONSE_BUDGET,
    SERVE_BYTES_BURST,
    SERVE_BYTES_PER_S,
    SERVE_FRAMES_PER_S,
    SERVE_MAX_DELAY_S,
    SERVE_PEERS,
)
from pynode.state.records import DOCS, Record
from pynode.state.store import Deferred, Store
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list

STATE_TOPIC = "hs/1/state"
SYNC_PROTO = "hs/1/state/sync"
AE_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Publish:
    data: bytes


@dataclass(frozen=True)
class Ask:
    peer: bytes
    data: bytes


@dataclass(frozen=True)
class Written:
    """One submitted write, committed: its updates to gossip, or why the store refused it."""

    token: Any  # what the caller submitted it with
    publish: list[Publish]
    error: Exception | None = None


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never really suspends (native signing and verification) without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("coroutine suspended; drive it with asyncio")


Chains = dict[int, tuple[int, bytes]]  # author's Loro peer -> (end counter, chain of its ledger up to there)


def _have_from_wire(value: Any) -> tuple[VersionVector, Chains]:
    """`have` entries: [peer, end] or [peer, end, chain] (equivocation.py)."""
    if not isinstance(value, list) or len(value) > MAX_VV_PEERS:
        raise WireError("bad_field", "a version vector is a list of [peer, counter]")
    out: VersionVector = {}
    chains: Chains = {}
    for entry in value:
        if not (
            isinstance(entry, list)
            and len(entry) in (2, 3)
            and all(isinstance(x, int) and 0 <= x < 2**63 for x in entry[:2])
        ):
            raise WireError(
                "bad_field", "a version vector entry is [peer, counter] or [peer, counter, chain]"
            )
        out[entry[0]] = entry[1]
        if len(entry) == 3:
            chains[entry[0]] = (entry[1], get_bytes({"c": entry[2]}, "c", size=DIGEST_BYTES))
    return out, chains


def _conflicts_from_wire(value: Any) -> dict[str, dict[int, list[tuple[int, int, bytes]]]]:
    """`conflicts`: {doc: [[author peer, ledger], ...]}."""
    if not isinstance(value, dict):
        raise WireError("bad_field", "conflicts must be a map")
    out: dict[str, dict[int, list[tuple[int, int, bytes]]]] = {}
    for name, entries in value.items():
        for entry in get_list({"c": entries}, "c", MAX_VV_PEERS):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
                raise WireError("bad_field", "a conflict is [peer, ledger]")
            out.setdefault(_doc_name(name), {})[entry[0]] = ledger_from_wire(entry[1])
    return out


def _yours_from_wire(value: Any) -> dict[str, int]:
    """`yours`: {doc: the asker's end counter held by the answering peer}."""
    if not isinstance(value, dict) or len(value) > len(DOCS):
        raise WireError("bad_field", "yours must be a map of documents")
    return {_doc_name(n): get_int(value, n, 1, 2**63 - 1) for n in value}


def _doc_name(value: Any) -> str:
    if value not in DOCS:
        raise WireError("bad_field", "unknown document")
    return value


@dataclass
class _Download:
    peer: bytes
    doc: str
    have: list[list[Any]]  # Store.have() when the download began
    snapshot: bool
    token: bytes = b""
    total: int = 0
    data: bytearray | None = None


class SyncEngine:
    def __init__(self, store: Store, rng: random.Random, interval: float = AE_INTERVAL_S) -> None:
        self.store = store
        self.rng = rng
        self.interval = interval
        self.pull_timeout = PULL_TIMEOUT_S
        self.cold = True  # no pull has completed yet
        self.last_pull_new = 0  # records the last completed pull brought
        self.pulls = 0
        self.failures = 0
        self.rejections: Counter[str] = Counter()
        self.bytes_in = 0
        self._next_pull = 0.0
        self._open: dict[bytes, float] = {}  # peers our requests in flight went to -> when (two: a hedge)
        self._download: _Download | None = None
        self._exports: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self._comparing: tuple[str, int, tuple[int, int]] | None = None  # (doc, author, our span) asked about
        self._serving: OrderedDict[bytes, Pacer] = OrderedDict()  # each asker's pace, least recent first
        self.held = HeldUpdates()  # gossiped updates waiting for their dependencies
        # (author, reason) of authors whose updates were hostile only in hindsight: the runtime penalises them
        self.penalties: deque[tuple[bytes, str]] = deque(maxlen=64)
        # our own history (module docstring): how we learnt it, "" while we wait for it
        self.history = "own changes held" if self.holds_own_changes() else ""
        self._history_deadline: float | None = None  # set by the first tick
        self._owed: dict[str, int] = {}  # what the last answer said it holds of ours, not yet all here
        self._queued: deque[tuple[Any, list[Record]]] = deque()

    # ---- our writes -------------------------------------------------------------------------------

    async def write(self, signer: Signer, records: list[Record]) -> list[Publish]:
        """Commit now, whatever we know of our history: callers that may have restarted `submit` instead."""
        updates = await self.store.write(signer, records)
        return [Publish(cbor.encode({"doc": name, "update": blob})) for name, blob in updates.items()]

    @property
    def history_known(self) -> bool:
        return bool(self.history)

    def learn_history(self, how: str) -> None:
        """We hold every change we ever signed (`how` says why we believe it): writes may commit."""
        if not self.history:
            self.history = how

    def submit(self, token: Any, records: list[Record]) -> None:
        """Queue a write of ours; `flush` commits it once our history is known (order kept)."""
        if len(self._queued) >= MAX_QUEUED_WRITES:
            raise ValueError("too many writes wait for this replica's own history")
        self._queued.append((token, records))

    @property
    def queued(self) -> int:
        return len(self._queued)

    def abandon(self) -> list[Any]:
        """Drop the queued writes (the replica stops before knowing its history); returns their tokens."""
        tokens = [token for token, _ in self._queued]
        self._queued.clear()
        return tokens

    async def flush(self, signer: Signer) -> list[Written]:
        """Commit every queued write, in order, when our history is known (else nothing)."""
        out = []
        while self.history and self._queued:
            token, records = self._queued.popleft()
            try:
                out.append(Written(token, await self.write(signer, records)))
            except (
                Exception
            ) as e:  # refused by our own store (quota, exemption): its writer hears, the rest go
                out.append(Written(token, [], e))
        return out

    def holds_own_changes(self) -> bool:
        return any(v.get(self.store.peer, 0) for v in self.store.version().values())

    def _check_history(self) -> None:
        """After a completed pull: do we now hold all the answering peer held of ours?"""
        version = self.store.version()
        self._owed = {n: end for n, end in self._owed.items() if version[n].get(self.store.peer, 0) < end}
        if not self._owed and self._download is None:
            self.learn_history("pulled from a peer")

    # ---- gossip -----------------------------------------------------------------------------------

    async def on_gossip(self, sender: bytes, data: bytes, now_ms: int) -> ValidationResult:
        """Verdict on one gossiped update (importing it when valid). REJECT penalises the forwarders.

        An update that depends on changes we lack is held (IGNOREd: not forwarded) and imported as soon as
        they arrive; whatever this update brings may be what held ones were waiting for."""
        name, blob = "", b""
        try:
            if len(data) > MAX_GOSSIP_UPDATE + 1024:
                raise Rejected("oversized", f"{len(data)} bytes")
            try:
                msg = expect_map(
                    cbor.decode(data, max_bytes=MAX_GOSSIP_UPDATE + 1024), "update", {"doc", "update"}
                )
                name = _doc_name(msg["doc"])
                blob = get_bytes(msg, "update", max_len=MAX_GOSSIP_UPDATE)
            except WireError as e:
                raise Rejected("malformed_update", e.reason) from None
            await self.store.receive(name, blob, now_ms, ("updates",), only_author=sender)
        except Rejected as e:
            self.rejections[e.reason] += 1
            return ValidationResult.REJECT
        except Deferred as e:
            if e.reason == "missing_dependencies":
                self._next_pull = 0.0  # gossip outran us: pull at the next tick, and keep it meanwhile
                self.held.hold(name, blob, self.store.crdt.crdt_blob_meta(blob), sender, now_ms)
            await self._release(now_ms)  # expiry runs even while nothing new arrives
            return ValidationResult.IGNORE
        self.bytes_in += len(data)
        await self._release(now_ms)
        return ValidationResult.ACCEPT

    async def _release(self, now_ms: int) -> None:
        """Import every held update whose dependencies have arrived (each may release more); expire the rest
        in time, and penalise authors whose dependencies keep never coming."""
        while len(self.held) and (ready := self.held.take_ready(self.store.version(), now_ms)):
            for h in ready:
                try:
                    await self.store.receive(h.doc, h.blob, now_ms, ("updates",), only_author=h.author)
                except Rejected as e:
                    self.rejections[e.reason] += 1
                    self._penalise(h.author, f"state_{e.reason}")
                except Deferred:
                    pass  # a pull brought it meanwhile
        for author in [a for a, n in self.held.strikes.items() if n >= MAX_STRIKES]:
            self._penalise(author, "state_unresolved_dependencies")

    def _penalise(self, author: bytes, reason: str) -> None:
        self.held.forget(author)
        self.penalties.append((author, reason))

    # ---- anti-entropy: asking ---------------------------------------------------------------------

    def tick(self, now: float, peers: list[bytes]) -> list[Ask]:
        if not self.history:
            if self._history_deadline is None:
                self._history_deadline = now + HISTORY_WAIT_S
            elif now >= self._history_deadline:
                self.learn_history("alone: no peer answered in time")
        for peer, asked_at in list(self._open.items()):
            if now - asked_at >= self.pull_timeout or peer not in peers:
                self.on_failure(peer)
        if self._open:
            return self._hedge(now, peers)
        if now < self._next_pull or not peers:
            return []
        self._next_pull = now + self.interval * (0.5 + self.rng.random())  # jitter: no lockstep rounds
        return [self._pull(now, peers)]

    def _pull(self, now: float, peers: list[bytes]) -> Ask:
        # an author whose held update waits for dependencies holds them: ask it first (HeldUpdates)
        owed = [a for a in self.held.waiting_on() if a in peers]
        peer = owed[0] if owed else peers[self.rng.randrange(len(peers))]
        request = {"have": {n: self.store.have(n) for n in DOCS}, "snapshot": self._empty()}
        return self._ask(peer, request, now)

    def _hedge(self, now: float, peers: list[bytes]) -> list[Ask]:
        """While updates wait on a pull (a cold start, or gossip held for its dependencies), a pull left
        unanswered for half the timeout is asked of a second peer too, and the first answer wins: one lost
        request or answer must not stall them a whole timeout (then the next peer's may be lost as well)."""
        if len(self._open) > 1 or self._download is not None or self._comparing is not None:
            return []
        if not (self.cold or len(self.held)) or now - min(self._open.values()) < self.pull_timeout / 2:
            return []
        others = [p for p in peers if p not in self._open]
        return [self._pull(now, others)] if others else []

    def _empty(self) -> bool:
        return all(not v for v in self.store.version().values())

    def _ask(self, peer: bytes, request: dict[str, Any], now: float) -> Ask:
        self._open[peer] = now
        return Ask(peer, cbor.encode(request))

    def on_failure(self, peer: bytes) -> None:
        """Our request to `peer` failed or timed out: try someone else next tick."""
        if self._open.pop(peer, None) is not None:
            self._download = None
            self._comparing = None
            self.failures += 1
            self._next_pull = 0.0
            self.held.asked(peer)

    async def on_response(self, peer: bytes, data: bytes, now: float, now_ms: int) -> list[Ask]:
        """Apply a pull's answer. Raises Rejected (after recording it) when the peer sent bad state."""
        if peer not in self._open:
            return []
        self._open.clear()  # a hedged twin's answer, if it comes, is not awaited
        self.bytes_in += len(data)
        try:
            return await self._apply_response(peer, data, now, now_ms)
        except Rejected as e:
            self.rejections[e.reason] += 1
            self._download = None
            raise

    async def _apply_response(self, peer: bytes, data: bytes, now: float, now_ms: int) -> list[Ask]:
        try:
            msg = cbor.decode(data)
            if isinstance(msg, dict) and "chunk" in msg:
                return await self._on_chunk(
                    peer, expect_map(msg, "response", {"chunk"})["chunk"], now, now_ms
                )
            if isinstance(msg, dict) and "change" in msg:
                await self._on_change(parse_form(expect_map(msg, "response", {"change"})["change"]))
                return []
            d = expect_map(msg, "response", {"docs", "big"}, {"conflicts", "evidence", "yours"})
            if not isinstance(d["docs"], dict):
                raise WireError("bad_field", "docs must be a map")
            blobs = {_doc_name(n): get_bytes(d["docs"], n) for n in d["docs"]}
            big = [_doc_name(n) for n in get_list(d, "big", len(DOCS))]
            evidence = (
                [parse_evidence(e) for e in get_list(d, "evidence", MAX_EVIDENCE_KEPT)]
                if "evidence" in d
                else []
            )
            conflicts = _conflicts_from_wire(d.get("conflicts", {}))
            yours = _yours_from_wire(d.get("yours", {}))
        except WireError as e:
            raise Rejected("malformed_response", e.reason) from None
        for a, b in evidence:
            await self._take_evidence(a, b)
        new = 0
        for name, blob in blobs.items():
            new += await self._receive(name, blob, now_ms)
        if new:
            await self._release(now_ms)
        self.held.asked(peer)
        self.pulls += 1
        self.last_pull_new = new
        self.cold = False
        self._owed = yours
        if (ask := self._compare(peer, conflicts, now)) is not None:
            return [ask]  # a large document waits for the next pull
        for name in big:
            self._download = _Download(peer, name, self.store.have(name), snapshot=self._empty_doc(name))
            return [self._ask_chunk(now)]
        self._check_history()
        return []

    def _empty_doc(self, name: str) -> bool:
        return not self.store.docs[name].version()

    # ---- equivocation (equivocation.py) -------------------------------------------------------------

    def _compare(self, peer: bytes, conflicts: dict[str, dict[int, Any]], now: float) -> Ask | None:
        """A peer says our history of some author is not its own: find the first change where the ledgers
        differ and ask for its version in full."""
        for name, ledgers in conflicts.items():
            for author, theirs in ledgers.items():
                mine = self.store.ledgers[name].get(author)
                spans = first_difference(mine.entries, theirs) if mine is not None else None
                if spans is not None and author not in self.store.faulty:
                    self._comparing = (name, author, spans[0])
                    start, end = spans[1]
                    return self._ask(
                        peer, {"change": {"doc": name, "peer": author, "start": start, "end": end}}, now
                    )
        return None

    async def _on_change(self, theirs: Form) -> None:
        """Their version of a change we hold differently: with ours, proof that its author equivocated."""
        pending, self._comparing = self._comparing, None
        if pending is None:
            raise Rejected("unexpected_change")
        name, author, (start, end) = pending
        if (theirs.doc, theirs.peer) != (name, author) or theirs.start != start:
            raise Rejected("bad_evidence", "not the change asked for")
        ours = self.store.change_form(name, author, start, end)
        if ours is not None and author not in self.store.faulty:
            await self._take_evidence(parse_form(ours), theirs)

    async def _take_evidence(self, a: Form, b: Form) -> None:
        """Verify two changes of one author over the same ids and, if they are, hold the author faulty.
        Raises Rejected (the peer that sent them is penalised) when they prove nothing."""
        for form in (a, b):
            c = form.check
            if not await verify(c.public_key, c.message, c.sig):
                raise Rejected("bad_evidence", "a change whose signature does not verify")
        self.store.mark_faulty(evidence_of(a, b))

    async def _receive(self, name: str, blob: bytes, now_ms: int) -> int:
        try:
            return len(await self.store.receive(name, blob, now_ms, ("updates", "snapshot")))
        except Deferred:
            return 0

    def _ask_chunk(self, now: float) -> Ask:
        dl = self._download
        assert dl is not None
        offset = len(dl.data) if dl.data is not None else 0
        fetch = {
            "doc": dl.doc,
            "have": dl.have,
            "snapshot": dl.snapshot,
            "token": dl.token,
            "offset": offset,
        }
        return self._ask(dl.peer, {"fetch": fetch}, now)

    async def _on_chunk(self, peer: bytes, value: Any, now: float, now_ms: int) -> list[Ask]:
        dl = self._download
        try:
            c = expect_map(value, "chunk", {"doc", "token", "offset", "total", "data"})
            doc = _doc_name(c["doc"])
            token = get_bytes(c, "token", 16)
            total = get_int(c, "total", 1, MAX_BLOB_BYTES)
            offset = get_int(c, "offset")
            part = get_bytes(c, "data", max_len=CHUNK_BYTES)
        except WireError as e:
            raise Rejected("malformed_response", e.reason) from None
        if dl is None or dl.peer != peer or dl.doc != doc:
            raise Rejected("unexpected_chunk")
        if dl.data is None:
            dl.data, dl.token, dl.total = bytearray(), token, total
        if (
            token != dl.token
            or total != dl.total
            or offset != len(dl.data)
            or offset + len(part) > total
            or not part
        ):
            raise Rejected("bad_chunk", "chunk does not continue the download")
        dl.data += part
        if len(dl.data) < dl.total:
            return [self._ask_chunk(now)]
        self._download = None
        blob = bytes(dl.data)
        if hashlib.sha256(blob).digest()[:16] != dl.token:
            raise Rejected("bad_chunk", "reassembled blob does not match its token")
        self.last_pull_new = await self._receive(doc, blob, now_ms)
        if self.last_pull_new:
            await self._release(now_ms)
        self.pulls += 1
        self.cold = False
        self._check_history()  # the rest of what it holds of ours, in other big documents, comes next pull
        return []

    # ---- anti-entropy: answering ------------------------------------------------------------------

    def serve_delay(self, peer: bytes, size: int, now: float) -> float | None:
        """Seconds to hold an answer of `size` bytes to `peer` before sending it, paced per peer; None when
        that peer's answers are booked too far ahead (answer busy: it asks again, or someone else)."""
        pacer = self._serving.pop(peer, None)
        if pacer is None:
            pacer = Pacer(SERVE_BYTES_PER_S, SERVE_BYTES_BURST, SERVE_FRAMES_PER_S, SERVE_FRAMES_PER_S, now,
                          SERVE_MAX_DELAY_S)  # fmt: skip
        self._serving[peer] = pacer
        while len(self._serving) > SERVE_PEERS:
            self._serving.popitem(last=False)
        return pacer.book(size, now)

    def on_request(self, peer: bytes, data: bytes, now: float) -> bytes:
        """Answer a pull. Raises WireError for a malformed request (the runtime penalises the peer)."""
        msg = cbor.decode(data)
        if isinstance(msg, dict) and "fetch" in msg:
            return self._answer_fetch(expect_map(msg, "request", {"fetch"})["fetch"], now)
        if isinstance(msg, dict) and "change" in msg:
            return self._answer_change(expect_map(msg, "request", {"change"})["change"])
        d = expect_map(msg, "request", {"have", "snapshot"})
        if not isinstance(d["have"], dict) or not isinstance(d["snapshot"], bool):
            raise WireError("bad_field", "have must be a map and snapshot a boolean")
        haves = {_doc_name(n): _have_from_wire(v) for n, v in d["have"].items()}
        out: dict[str, Any] = {"docs": {}, "big": []}
        asker = loro_peer(peer)  # what we hold of the asker's own changes: it may have restarted without them
        if yours := {n: end for n, doc in self.store.docs.items() if (end := doc.version().get(asker, 0))}:
            out["yours"] = yours
        budget = RESPONSE_BUDGET - self._add_proofs(out, haves)
        for name in DOCS:
            have, chains = haves.get(name, ({}, {}))
            have = self._excluding_disagreements(name, have, chains, out)
            mine = self.store.docs[name].version()
            if all(end <= have.get(p, 0) for p, end in mine.items()):
                continue  # nothing they lack
            blob = self._export(name, have, d["snapshot"] and not have)
            if len(blob) <= budget:
                out["docs"][name] = blob
                budget -= len(blob)
            else:
                out["big"].append(name)
        return cbor.encode(out)

    def _add_proofs(self, out: dict[str, Any], haves: dict[str, tuple[VersionVector, Chains]]) -> int:
        """Evidence against authors the asker still compares (it sent their chain) or does not know at all (a
        cold start: what we send of them would not verify for it without the proof); returns the bytes used."""
        trusted = {p for _, chains in haves.values() for p in chains}
        known = {p for have, _ in haves.values() for p in have}
        proofs = [e.to_wire() for p, e in self.store.evidence.items() if p in trusted or p not in known]
        size = len(cbor.encode(proofs))
        if proofs and size <= RESPONSE_BUDGET // 2:
            out["evidence"] = proofs
            return size
        return 0

    def _excluding_disagreements(
        self, name: str, have: VersionVector, chains: Chains, out: dict[str, Any]
    ) -> VersionVector:
        """Authors whose history the asker holds differently are left out of what we send (a slice of our
        version would carry no valid signature); their ledgers go instead, for the asker to compare."""
        disagreeing = self.store.disagreeing(name, chains)
        if not disagreeing:
            return have
        mine = self.store.docs[name].version()
        out.setdefault("conflicts", {})[name] = [
            [p, ledger_to_wire(self.store.ledgers[name][p])] for p in disagreeing
        ]
        return {**have, **{p: max(have.get(p, 0), mine.get(p, 0)) for p in disagreeing}}

    def _export(self, name: str, have: VersionVector, snapshot: bool) -> bytes:
        try:
            return self.store.snapshot(name) if snapshot else self.store.export_since(name, have)
        except CrdtError as e:
            raise WireError("bad_field", f"cannot export from that version: {e}") from None

    def _answer_change(self, value: Any) -> bytes:
        c = expect_map(value, "change", {"doc", "peer", "start", "end"})
        name = _doc_name(c["doc"])
        start, end = get_int(c, "start", 0, 2**31), get_int(c, "end", 1, 2**31)
        form = self.store.change_form(name, get_int(c, "peer", 0, 2**63 - 1), start, end)
        if form is None:
            raise WireError("gone", "no such change here")
        return cbor.encode({"change": form})

    def _answer_fetch(self, value: Any, now: float) -> bytes:
        f = expect_map(value, "fetch", {"doc", "have", "snapshot", "token", "offset"})
        name = _doc_name(f["doc"])
        token = get_bytes(f, "token", max_len=16)
        offset = get_int(f, "offset", 0, MAX_BLOB_BYTES)
        for t, (at, _) in list(self._exports.items()):
            if now - at > EXPORT_TTL_S:
                del self._exports[t]
        if token:
            cached = self._exports.get(token)
            if cached is None:
                raise WireError("gone", "that export expired; start over")
            blob = cached[1]
        else:
            if not isinstance(f["snapshot"], bool):
                raise WireError("bad_field", "snapshot must be a boolean")
            have, chains = _have_from_wire(f["have"])
            have = self._excluding_disagreements(name, have, chains, {})
            blob = self._export(name, have, f["snapshot"])
            token = hashlib.sha256(blob).digest()[:16]
            self._exports[token] = (now, blob)
            while len(self._exports) > EXPORT_CACHE:
                self._exports.popitem(last=False)
        if offset >= len(blob):
            raise WireError("bad_field", "offset beyond the export")
        part = blob[offset : offset + CHUNK_BYTES]
        return cbor.encode(
            {"chunk": {"doc": name, "token": token, "offset": offset, "total": len(blob), "data": part}}
        )

    # ---- status -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        if self.cold:
            state = "cold"
        elif self._download is not None or self.last_pull_new:
            state = "syncing"
        else:
            state = "synced"
        return {
            "sync": state,
            "history": self.history or "waiting",  # how we know every change we signed; writes wait till then
            "queued_writes": len(self._queued),
            **self.store.stats(),
            "pulls": self.pulls,
            "pull_failures": self.failures,
            "rejected": dict(self.rejections),
        }
