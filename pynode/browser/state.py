"""The replicated state in a browser tab: the tab's node holds a `StateReplica` (pynode/runtime/replica.py) over
loro-crdt, and the dashboard shows its record counts, sync state and leaderboards.

app.py owns the node: it calls `attach(node)` before the node starts and `detach()` when it leaves.
The records outlive a Leave: rejoining keeps the same Store, so the tab only catches up instead of starting
cold. They outlive a reload too, as far as the tab's own writes go: each document the tab writes to is saved in
IndexedDB before the write is gossiped, and loaded when the tab starts, so a reloaded tab never signs a change
under ids it used before (peers would hold it faulty; PROTOCOL.md). A few seconds later, and after many records
came from the network (STATE_CHECKPOINT_*), the document is saved again with its seal (pynode/state/sealed.py,
keyed by a secret kept beside it): at start, a snapshot whose seal holds is restored without checking its records
again (they were checked when received); any other is validated like network input. Worker commands (the reply has the
command's type, with `error` when it failed):
  state-publish {kind, body}          sign a record as this tab, commit it, gossip the update → {key, doc}
  state-export  {doc}                 the document's snapshot, base64 → {data, records}
  state-import  {doc, data}           validate and merge an update or snapshot (base64) → {accepted: [keys]}
                                      or {rejected: reason} / {deferred: reason}; nothing lands unless valid
"""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pynode.browser.limits import (
    STATE_CHECKPOINT_DELAY_S,
    STATE_CHECKPOINT_RECORDS,
    STATE_SLICE_UNITS,
    STATE_TURN_S,
)
from pynode.identity import peer_id_text, short_id
from pynode.platform import browser
from pynode.research.policy import check_result
from pynode.runtime.replica import EVIDENCE_FILE, StateReplica, evidence_bytes, load_files
from pynode.state.authorship import Rejected
from pynode.state.limits import MAX_BLOB_BYTES
from pynode.state.records import DOCS, Record, doc_for
from pynode.state.sealed import SECRET_BYTES, capture, seal
from pynode.state.slices import Slices
from pynode.state.store import Deferred, Store
from pynode.state.views import boards_json, leaderboards

if TYPE_CHECKING:
    from pynode.node import Node

log = logging.getLogger(__name__)
ROWS_SHOWN = 10  # per leaderboard in the status the page receives every second
ANNOUNCE_MAX = 3  # new records announced one by one in the feed; a bigger batch (a cold start) is summarised

Event = Callable[..., None]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _place(peer_id: bytes) -> str:
    """Where this identity's saved state lives in IndexedDB: one key per file (`store_files` names)."""
    return f"state/{peer_id_text(peer_id)}/"


SEAL_KEY = "seal.key"  # the secret this tab's seals are keyed by, beside the files it seals
SEALED = ".sealed"  # a document's seal: <doc>.sealed beside <doc>.loro


async def _load_saved(store: Store) -> tuple[int, int]:
    """What this tab saved of its documents before a reload: (records restored from snapshots whose seal holds,
    records of the others, validated like network input)."""
    place = _place(store.author)
    names = [f"{n}.loro" for n in DOCS] + [n + SEALED for n in DOCS] + [EVIDENCE_FILE, SEAL_KEY]
    blobs = await browser.load_blobs([place + n for n in names], MAX_BLOB_BYTES)
    files = {k.removeprefix(place): v for k, v in blobs.items()}
    secret = files.pop(SEAL_KEY, b"")
    seals = {n: files.pop(n + SEALED) for n in DOCS if n + SEALED in files}
    evidence = {EVIDENCE_FILE: files.pop(EVIDENCE_FILE)} if EVIDENCE_FILE in files else {}
    await load_files(store, evidence, "IndexedDB")  # first: an author proven faulty counts nowhere
    restored = 0
    for name, sealed in seals.items():
        snapshot = files.get(f"{name}.loro")
        if snapshot is not None and (got := await store.restore(name, snapshot, sealed, secret)) is not None:
            restored += len(got)
            del files[f"{name}.loro"]
    return restored, await load_files(store, files, "IndexedDB")


def new_store(peer_id: bytes) -> Store:
    """The tab's Store: results that contradict their research task are refused whole, as in CPython replicas,
    and a long check (a cold start of thousands of records) lets the tab's loop run every STATE_TURN_S.

    What the tab holds by now (its modules, the app: ~39,000 objects the collector tracks) is set aside from the
    cyclic garbage collector (gc.freeze): the collections a cold start's allocations trigger then scan only newer
    objects. Without it, collections of 37-48 ms came in the middle of 5,000-record cold starts (bench/state_tab.py
    gc_pauses_ms, load 3-5); the check's own objects still cost some. Those objects live as long as the tab;
    refcounting still frees whatever of them is dropped."""
    gc.freeze()
    return Store(
        peer_id, browser, policy=check_result, slices=Slices(STATE_SLICE_UNITS, _Turns(STATE_TURN_S))
    )


class _Turns:
    """The pause between slices of a tab's state check: a full turn of the loop (`browser.next_turn`) once
    `every_s` passed since the last one; nothing in between, as a turn costs about a millisecond."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.last = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self.last >= self.every_s:
            await browser.next_turn()
            self.last = time.monotonic()


class _Sealer:
    """Saves documents of the tab's store in IndexedDB, each snapshot with its seal, in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.place = _place(store.author)
        self.secret = b""
        self.secret_saved = False

    async def checkpoint(self, docs: list[str]) -> bool:
        """Save `docs` unless one changes while it is sealed (False: a save may not overtake a later one of our
        own writes with an older snapshot; the change brings another checkpoint)."""
        captured = {n: await capture(self.store, n) for n in docs if self.store.records[n]}
        versions = {n: dict(got.version) for n, got in captured.items()}
        proofs = evidence_bytes(self.store)  # what the snapshots hold of faulty authors verifies only with it
        out = {} if proofs is None else {EVIDENCE_FILE: proofs}
        secret = await self._secret(out)
        for name, got in captured.items():
            out[f"{name}.loro"] = got.snapshot
            out[name + SEALED] = await seal(self.store.author, name, got, secret, self.store.slices)
        if any(self.store.docs[n].version() != v for n, v in versions.items()):
            return False
        await browser.save_blobs({self.place + f: data for f, data in out.items()})
        self.secret_saved = True
        return True

    async def _secret(self, out: dict[str, bytes]) -> bytes:
        """The tab's sealing secret: read once, or made here and saved with the first files it seals."""
        if not self.secret:
            found = await browser.load_blobs([self.place + SEAL_KEY], SECRET_BYTES)
            self.secret_saved = len(found.get(self.place + SEAL_KEY, b"")) == SECRET_BYTES
            if not self.secret:
                self.secret = (
                    found[self.place + SEAL_KEY] if self.secret_saved else browser.random_bytes(SECRET_BYTES)
                )
        if not self.secret_saved:
            out[SEAL_KEY] = self.secret
        return self.secret


class BrowserState:
    def __init__(self) -> None:
        self.replica: StateReplica | None = None
        self.store: Store | None = None
        self.sealer: _Sealer | None = None
        self._unsaved: dict[str, int] = {}  # records received per document since it was last saved
        self._checkpoint: asyncio.Task[None] | None = None
        self.event: Event = lambda *args, **kwargs: None
        self._boards_for = -1  # record count the cached boards were computed from (records only grow)
        self._boards: list[dict[str, Any]] = []
        self._lineage: dict[str, dict[str, str]] = {}
        self.error = ""

    # ---- the node's life ------------------------------------------------------------------------------

    async def attach(self, node: Node, event: Event) -> None:
        """Give `node` a replica (the app does once the node joined); waits for loro-crdt's wasm if still loading.

        A tab whose CRDT cannot load still gossips: the failure shows in the status and the feed only.
        """
        self.event = event
        try:
            await browser.crdt_ready()
            store = self.store
            if store is None:
                store = new_store(node.peer_id)
                try:
                    restored, loaded = await _load_saved(store)
                    if restored:
                        event("info", f"{restored} records restored from this browser's sealed copy")
                    if loaded:
                        event("info", f"{loaded} records loaded from this browser, every signature checked")
                except Exception as e:  # our writes then wait for a pull to bring our history back
                    log.warning("the saved state could not be read: %s", e)
            if self.sealer is None or self.sealer.store is not store:
                self.sealer = _Sealer(store)
            self.replica = StateReplica(node, store=store, persist=self._persist)
        except Exception as e:
            log.exception("no replicated state in this tab")
            self.error = f"the replicated state could not start: {e}"
            event("error", self.error)
            return
        self.error = ""
        self.store = self.replica.store
        self.store.on_new = self._announce
        await self.replica.start()

    async def detach(self) -> None:
        replica, self.replica = self.replica, None
        if replica is not None:
            await replica.stop()

    async def _persist(self, files: dict[str, bytes]) -> None:
        """The replica's `persist`: our own writes, on disk before they are gossiped (as `store_files` names
        them); sealed a little later (a seal costs a hash of the document and its records)."""
        assert self.sealer is not None
        await browser.save_blobs({self.sealer.place + f: data for f, data in files.items()})
        for file in files:
            if file.endswith(".loro"):
                self._unsaved_records(file.removesuffix(".loro"), STATE_CHECKPOINT_RECORDS)

    def _unsaved_records(self, doc: str, n: int) -> None:
        self._unsaved[doc] = self._unsaved.get(doc, 0) + n
        if sum(self._unsaved.values()) >= STATE_CHECKPOINT_RECORDS and self._checkpoint is None:
            self._checkpoint = asyncio.ensure_future(self._save_unsaved())

    async def _save_unsaved(self) -> None:
        """Save, sealed, the documents our writes or many received records changed, once updates settle."""
        try:
            await asyncio.sleep(STATE_CHECKPOINT_DELAY_S)
            unsaved, self._unsaved = self._unsaved, {}
            if self.sealer is not None and not await self.sealer.checkpoint(list(unsaved)):
                for doc, n in unsaved.items():  # changed meanwhile: again, after another delay
                    self._unsaved[doc] = self._unsaved.get(doc, 0) + n
        except Exception:  # a reload then checks these documents in full, or pulls them again
            log.exception("the state could not be saved sealed")
        finally:
            self._checkpoint = None
            if sum(self._unsaved.values()) >= STATE_CHECKPOINT_RECORDS:
                self._checkpoint = asyncio.ensure_future(self._save_unsaved())

    # ---- status ---------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        if self.store is None:
            off = {"sync": "error", "error": self.error} if self.error else {"sync": "off"}
            return {**off, "records": 0, "by_doc": {}, "leaderboards": [], "lineage": {}}
        st = self.replica.status() if self.replica is not None else {"sync": "offline", **self.store.stats()}
        if st["records"] != self._boards_for:  # views are pure functions of the records: recompute on change
            results = [
                r for name in DOCS if name.startswith("results.") for r in self.store.all_records(name)
            ]
            boards = leaderboards(results)
            self._boards = [
                {**b, "total": len(rows)}
                for b, rows in zip(boards_json(boards, ROWS_SHOWN), boards.values(), strict=True)
            ]
            self._lineage = self._lineage_of(self._boards)
            self._boards_for = st["records"]
        return {**st, "leaderboards": self._boards, "lineage": self._lineage}

    def _lineage_of(self, boards: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
        """For each row shown: its CI, held-out value, parent (`inspired_by`) and the parent's author."""
        assert self.store is not None
        out = {}
        for b in boards:
            held = self.store.records[f"results.{b['domain']}"]
            for row in b["rows"]:
                body = held[row["key"]].body
                info = {k: body[k] for k in ("ci95", "heldout", "inspired_by") if k in body}
                parent = held.get(body.get("inspired_by", ""))
                if parent is not None:
                    info["parent_author"] = peer_id_text(parent.author)
                if info:
                    out[row["key"]] = info
        return out

    def _announce(self, doc: str, records: list[Record]) -> None:
        self._unsaved_records(doc, len(records))
        if len(records) > ANNOUNCE_MAX:
            self.event("info", f"{len(records)} records merged into {doc}, every signature checked")
            return
        for r in records:
            b = r.body
            if r.kind == "result":
                text = f"result {b['domain']}/{b['task']}: {b['metric']} {b['value']} {b['unit']}"
            else:
                text = f"{r.kind} record from {short_id(r.author)}"
            self.event("info", text, sender=r.author)

    # ---- commands -------------------------------------------------------------------------------------

    async def command(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        if kind == "state-publish":
            if self.replica is None:
                return {"error": "not joined"}
            record = await self.replica.publish(str(args["kind"]), dict(args["body"]))
            return {"key": record.key, "doc": doc_for(record.kind, record.body)}
        store = self.store
        if store is None:
            return {"error": "no replica yet"}
        doc = str(args["doc"])
        if doc not in store.docs:
            return {"error": f"unknown document {doc[:32]!r}"}
        if kind == "state-export":
            data = store.snapshot(doc)
            return {"data": base64.b64encode(data).decode("ascii"), "records": len(store.records[doc])}
        if kind == "state-import":
            blob = base64.b64decode(str(args["data"]))
            try:
                new = await store.receive(doc, blob, _now_ms(), ("updates", "snapshot"))
            except Rejected as e:
                return {"rejected": e.reason, "detail": str(e)}
            except Deferred as e:
                return {"deferred": e.reason}
            return {"accepted": [r.key for r in new]}
        return {"error": f"unknown command {kind}"}


state = BrowserState()
COMMANDS = ("state-publish", "state-export", "state-import")


async def run_command(kind: str, args: dict[str, Any]) -> None:
    """Run a state command from the page and post its reply (its type, with `error` when it failed)."""
    try:
        reply = await state.command(kind, args)
    except Exception as e:
        log.exception("%s failed", kind)
        reply = {"error": f"{type(e).__name__}: {e}"}
    browser.post({"type": kind, **reply})
