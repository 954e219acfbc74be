"""A Node's replica of the state: the asyncio runtime around the sans-IO `state.sync.SyncEngine`.

It composes with the Node through its public API only: a validator on the state topic (so a bad update
is REJECTed and its forwarders lose gossip score), a request handler for anti-entropy pulls, and one loop
that ticks the engine and carries out its requests. A peer whose pull answer or request is hostile is
counted and banned (`Node.penalise`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from pynode.gossip.events import ValidationResult
from pynode.identity import Signer, short_id, verify
from pynode.identity.keys import first_use_of_new_key
from pynode.net.reqresp import RequestFailed
from pynode.node import Node
from pynode.platform import current
from pynode.presence.admission import exemptions
from pynode.runtime.limits import MAX_EVIDENCE_FILE, STATE_SLICE_UNITS
from pynode.state.authorship import Rejected
from pynode.state.equivocation import evidence_of, parse_evidence
from pynode.state.limits import MAX_EVIDENCE_KEPT
from pynode.state.records import DOCS, Record, make_record
from pynode.state.slices import Slices
from pynode.state.store import Deferred, Store
from pynode.state.sync import STATE_TOPIC, SYNC_PROTO, SyncEngine, Written
from pynode.state.views import leaderboards
from pynode.wire import cbor
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError
from pynode.wire.schema import get_list

log = logging.getLogger(__name__)
TICK_S = 0.25
EVIDENCE_FILE = "evidence.cbor"
Persist = Callable[[dict[str, bytes]], Awaitable[None]]  # files as `store_files` names them


class StateReplica:
    def __init__(
        self,
        node: Node,
        interval: float = 2.0,
        store: Store | None = None,
        save_to: Path | None = None,
        persist: Persist | None = None,
    ) -> None:
        """`store`: records kept from an earlier replica of the same identity (a tab that left and rejoins).
        `save_to`: a directory the replica is saved to after each of our own writes, before it is gossiped
        (load it into `store` at the next start): a node killed at any moment then restarts knowing every
        change it signed, and never signs other changes over the same ids (equivocation, held against it).
        `persist`: the same where there is no directory (a tab's IndexedDB): given the documents we wrote to,
        as `store_files` names them. Our writes wait until we know our own history (SyncEngine.submit): a
        `store` holding changes of ours, `save_to` (the caller loaded it), or a pull that brought ours back."""
        if store is not None and store.author != node.peer_id:
            raise ValueError("a replica's store must be its node's own")
        self.node = node
        self.save_to = save_to
        self.persist = persist
        self.store = store if store is not None else Store(node.peer_id, current())
        if not self.store.exemptions:  # round certificates and points are paid for by the chain, everywhere
            self.store.exemptions = exemptions()
        if self.store.slices.pause is None:  # a long check lets the node's loop run now and then
            self.store.slices = Slices(STATE_SLICE_UNITS, _turn)
        self.engine = SyncEngine(self.store, random.Random(), interval)
        if save_to is not None:  # the caller loaded what we saved there (from the first write on, as here)
            self.engine.learn_history("loaded from our saved state")
        elif first_use_of_new_key(node.peer_id):  # nobody can hold a change of ours: no pull to wait for
            self.engine.learn_history("a new identity")
        self._flushing = asyncio.Lock()  # one flush at a time: saved, then gossiped, in the order written
        self._task: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        node.subscribe(STATE_TOPIC, validator=self._validate)
        node.handle(SYNC_PROTO, self._serve)

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._requests) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        for done in self.engine.abandon():  # never signed: nothing to keep, and no caller left waiting
            if not done.done():
                done.set_exception(RuntimeError("the replica stopped before it knew its own history"))

    # ---- writing ----------------------------------------------------------------------------------

    async def write(self, records: list[Record]) -> None:
        """Commit our own signed records (saved first, with `save_to`/`persist`) and gossip the update; waits
        while we do not know our own history yet (the engine queues it, in order). Raises ValueError when our
        store refuses them (quota)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.engine.submit(done, records)
        await self._flush()
        await done

    async def _flush(self) -> None:
        async with self._flushing:
            written = await self.engine.flush(self.node.identity.signer)
            failed: Exception | None = None
            try:
                await self._save(written)
                for w in written:
                    for out in w.publish:
                        await self.node.publish(STATE_TOPIC, out.data)
            except Exception as e:  # committed here; pulls still spread it. Its writer hears, not our loop
                failed = e
            for w in written:
                if not w.token.done():
                    if (error := w.error or failed) is None:
                        w.token.set_result(None)
                    else:
                        w.token.set_exception(error)

    async def _save(self, written: list[Written]) -> None:
        if not any(w.publish for w in written):
            return
        if self.save_to is not None:
            save_store(self.store, self.save_to)
        if self.persist is not None:
            docs = {cbor.decode(p.data)["doc"] for w in written for p in w.publish}
            await self.persist(store_files(self.store, docs))

    async def publish(self, kind: str, body: dict[str, Any]) -> Record:
        """Sign a record of `kind` now, commit and gossip it; returns the record."""
        record = await make_record(self.node.identity.signer, kind, body, int(time.time() * 1000))
        await self.write([record])
        return record

    # ---- persistence (the relay keeps its replica across restarts) --------------------------------

    def save(self, directory: Path) -> None:
        save_store(self.store, directory)

    async def load(self, directory: Path) -> int:
        """Import saved snapshots, validated like anything from the network. Returns records loaded."""
        loaded = await load_store(self.store, directory)
        if self.engine.holds_own_changes():
            self.engine.learn_history("own changes held")
        return loaded

    # ---- views and status -------------------------------------------------------------------------

    def leaderboards(self) -> dict[Any, Any]:
        results = [r for name in DOCS if name.startswith("results.") for r in self.store.all_records(name)]
        return leaderboards(results)

    def status(self) -> dict[str, Any]:
        return self.engine.status()

    # ---- node plumbing ----------------------------------------------------------------------------

    async def _validate(self, env: Envelope) -> ValidationResult:
        verdict = await self.engine.on_gossip(env.sender, env.data, _now_ms())
        self._penalties()
        return verdict

    def _penalties(self) -> None:
        """Authors the engine found hostile in hindsight (held updates that never resolved or turned out bad)."""
        while self.engine.penalties:
            author, reason = self.engine.penalties.popleft()
            self.node.penalise(author, reason)

    async def _serve(self, peer: bytes, data: bytes) -> bytes:
        try:
            answer = self.engine.on_request(peer, data, time.monotonic())
        except WireError as e:
            if e.reason != "gone":
                self.node.penalise(peer, f"state_{e.reason}")
            raise RequestFailed(str(e)) from None
        delay = self.engine.serve_delay(peer, len(answer), time.monotonic())
        if delay is None:
            raise RequestFailed("busy: this peer's answers are paced")
        if delay > 0:
            await asyncio.sleep(delay)
        return answer

    async def _loop(self) -> None:
        while True:
            for ask in self.engine.tick(time.monotonic(), sorted(self.node.connected_peers())):
                self._spawn(self._pull(ask.peer, ask.data))
            if self.engine.queued and self.engine.history_known:  # writes that waited for our history
                await self._flush()
            await asyncio.sleep(TICK_S)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _pull(self, peer: bytes, data: bytes) -> None:
        try:
            answer = await self.node.request(peer, SYNC_PROTO, data)
        except (RequestFailed, TimeoutError) as e:
            log.debug("state pull from %s failed: %s", short_id(peer), e)
            self.engine.on_failure(peer)
            return
        try:
            asks = await self.engine.on_response(peer, answer, time.monotonic(), _now_ms())
        except Rejected as e:
            self.node.penalise(peer, f"state_{e.reason}")
            return
        finally:
            self._penalties()
        if self.engine.queued and self.engine.history_known:
            await self._flush()
        for ask in asks:
            self._spawn(self._pull(ask.peer, ask.data))


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _turn() -> None:
    """A pause between slices of a state check: one turn of the event loop for whatever waits."""
    await asyncio.sleep(0)


def store_files(store: Store, docs: Iterable[str] = DOCS) -> dict[str, bytes]:
    """Snapshots of those of `docs` that hold records, by file name, with the evidence against faulty authors:
    what we hold of them does not verify without it."""
    files = {f"{name}.loro": store.snapshot(name) for name in docs if store.records[name]}
    if (proofs := evidence_bytes(store)) is not None:
        files[EVIDENCE_FILE] = proofs
    return files


def save_store(store: Store, directory: Path) -> None:
    """Snapshot every non-empty document into `directory` (atomically, file by file), with the evidence."""
    directory.mkdir(parents=True, exist_ok=True)
    for file, data in store_files(store).items():
        tmp = directory / f"{file}.tmp"
        tmp.write_bytes(data)
        tmp.replace(directory / file)


async def load_store(store: Store, directory: Path) -> int:
    """Import the snapshots `save_store` wrote, validated like anything from the network."""
    names = [f"{name}.loro" for name in DOCS] + [EVIDENCE_FILE]
    files = {n: (directory / n).read_bytes() for n in names if (directory / n).is_file()}
    return await load_files(store, files, str(directory))


async def load_files(store: Store, files: dict[str, bytes], where: str) -> int:
    """Import files as `store_files` names them, validated like anything from the network (the evidence
    first, each proof checked, so that the faulty authors' changes are taken for their ids only). Returns
    the records loaded; what does not validate is logged and left out."""
    if not store.exemptions:  # as a replica admits them: a long-running leader's certificates too
        store.exemptions = exemptions()
    if (proofs := files.get(EVIDENCE_FILE)) is not None:
        await _load_evidence(store, proofs, where)
    loaded = 0
    for name in DOCS:
        if (blob := files.get(f"{name}.loro")) is not None:
            try:
                loaded += len(await store.receive(name, blob, _now_ms(), ("snapshot", "updates")))
            except (Rejected, Deferred) as e:
                log.warning("ignoring saved state %s/%s: %s", where, name, e)
    return loaded


def evidence_bytes(store: Store) -> bytes | None:
    """The evidence against the store's faulty authors as `load_store` reads it (None when there is none)."""
    if not store.evidence:
        return None
    return cbor.encode([e.to_wire() for e in store.evidence.values()])


async def _load_evidence(store: Store, proofs: bytes, where: str) -> None:
    try:
        if len(proofs) > MAX_EVIDENCE_FILE:
            raise WireError("oversized", f"{len(proofs)} bytes of evidence")
        data = cbor.decode(proofs, max_bytes=MAX_EVIDENCE_FILE)
        for value in get_list({"e": data}, "e", MAX_EVIDENCE_KEPT):
            a, b = parse_evidence(value)
            for form in (a, b):
                c = form.check
                if not await verify(c.public_key, c.message, c.sig):
                    raise Rejected("bad_evidence", "a change whose signature does not verify")
            store.mark_faulty(evidence_of(a, b))
    except (WireError, Rejected) as e:
        log.warning("ignoring saved evidence in %s: %s", where, e)


class LocalReplica:
    """A replica with no network: this identity's records and what it loaded, kept in `directory`.

    What `hyperspace research` uses when it runs without a relay; `hyperspace node` publishes the same
    records to the network later (its replica loads the directory).
    """

    def __init__(self, signer: Signer, store: Store, directory: Path) -> None:
        if store.author != signer.public_key:
            raise ValueError("a replica's store must be its signer's own")
        self.signer = signer
        self.store = store
        self.directory = directory

    async def publish(self, kind: str, body: dict[str, Any]) -> Record:
        record = await make_record(self.signer, kind, body, _now_ms())
        await self.store.write(self.signer, [record])
        save_store(self.store, self.directory)
        return record
