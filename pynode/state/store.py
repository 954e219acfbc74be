"""The replicated documents of one replica, and the only way anything gets into them.

`write` signs and commits our own records; `receive` is validation-before-import: an update is size-limited,
its metadata read without importing it (an update whose header names dependencies we lack waits, unforked),
then it is imported into a fork of the document and every new change is checked (authorship.check_change)
and every signature verified; only then is it imported for real. Any bad change rejects the whole update.

A Store is handed its CRDT (a `Crdt`: the platform, from whoever composes the node) and verifies signatures
through `pynode.identity.verify`; it never asks the platform for anything itself.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pynode.identity import Signer, verify_later
from pynode.platform.crdt import (
    BlobMeta,
    BlobSplit,
    Change,
    Crdt,
    CrdtDoc,
    CrdtError,
    SplitUnavailable,
    VersionVector,
)
from pynode.state.authorship import (
    Rejected,
    SigCheck,
    change_payload,
    check_change,
    encode_message,
    loro_peer,
    ns,
)
from pynode.state.equivocation import Evidence, Ledger, form_of, sig_digest
from pynode.state.limits import (
    AUTHOR_RECORDS,
    MAX_BLOB_BYTES,
    MAX_CHANGES_PER_BLOB,
    MAX_EVIDENCE_KEPT,
    MAX_WRITE_RETRIES,
    SPLIT_CHANGES,
    SPLIT_MIN_BYTES,
)
from pynode.state.quota import Exemption, Quotas, Trial
from pynode.state.records import DOCS, Record, doc_for
from pynode.state.sealed import open_sealed, unpack
from pynode.state.slices import Slices

# changes read from the CRDT per call, in slices of work: reading one costs a fraction of checking it, and each
# call has its overhead (a crossing into loro-crdt, a JSON export): in a tab, reading 5,000 changes 32 a call took
# 1.1-1.3 s, 100 a call 0.65-0.9 s (bench/state_tab.py, load 6), and 96 changes are read in ~15 ms
READ_WINDOW = 6
# signatures per verification batch, in slices: each batch is one crossing into WebCrypto and one task awaiting
# its answers (625 batches of 16 for a 5,000-record cold start cost the tab ~0.5 s of Python). A batch counts as
# one slice's worth of work: its signatures are verified off the loop (WebCrypto's thread), and what the loop
# does for them, putting them into one buffer and reading their answers, costs a fraction of checking a record
VERIFY_BATCH = 3
# batches of signatures verifying at once in a sliced check; the next start as earlier ones are answered. Verified
# in the tab's own thread, WebCrypto's answers were tasks Chromium runs before any timer: 10,000 verifications
# started as their records were checked answered in bursts that held the loop up to a second (bench/state_tab.py).
# VERIFY_BATCH * VERIFY_AHEAD >= 4 * READ_WINDOW: two read windows' signatures (two a record) may be verifying
# while the next is read. With one window's (4 batches), the verifying worker (platform/browser.py) ran out of
# work while a window was checked, and those not yet started piled up into a tail after the last record was
# checked (0.2 s of a 1.9 s cold start); its answers are one message a batch, a fraction of a slice each
VERIFY_AHEAD = 8


class Deferred(Exception):
    """An honest update we cannot use yet (it depends on changes we lack) or at all (nothing new)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Policy = Callable[[Record], None]


@dataclass
class _Checked:
    """What checking an update's new changes found, to verify and then to keep."""

    records: list[Record] = field(default_factory=list)
    checks: list[tuple[int, int, SigCheck]] = field(default_factory=list)  # (peer, change start, signature)
    spans: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # (peer, start, end, sig digest)
    # the checks in order, a batch at a time, each batch's verification under way (identity.verify_later)
    verifying: list[tuple[list[tuple[int, int, SigCheck]], Awaitable[list[bool]]]] = field(
        default_factory=list
    )
    changes: int = 0  # changes checked
    launched: int = 0  # checks whose verification has started
    open_from: int = 0  # batches before this one are answered

    def abandon(self) -> None:
        """The update failed before its verifications were awaited: let them go without a warning."""
        for _, answers in self.verifying:
            if (close := getattr(answers, "close", None) or getattr(answers, "cancel", None)) is not None:
                close()


class Store:
    def __init__(
        self, author: bytes, crdt: Crdt, policy: Policy | None = None, slices: Slices | None = None
    ) -> None:
        """`policy`: checks a record must pass beyond its schema (e.g. a result's config against its research
        domain); it raises ValueError to refuse, and the whole update is then refused like a forgery.
        `slices`: how the runtime lets other work in during a long check (slices.py); none: no pauses."""
        self.author = author
        self.slices = slices or Slices()
        # one update checked, or one write, at a time: a check that pauses must not see the document, quotas or
        # ledgers change under it (uncontended, as always without pauses, it never suspends: run_sync drives it)
        self._busy = asyncio.Lock()
        self.crdt = crdt
        self.policy = policy
        self.peer = loro_peer(author)
        self.docs: dict[str, CrdtDoc] = {name: crdt.crdt_doc(self.peer) for name in DOCS}
        self.records: dict[str, dict[str, Record]] = {name: {} for name in DOCS}  # validated, decoded
        self.quotas: dict[str, Quotas] = {name: Quotas() for name in DOCS}  # what each author put in each
        self.ledgers: dict[str, dict[int, Ledger]] = {
            name: {} for name in DOCS
        }  # per Loro peer (equivocation.py)
        self.faulty: set[int] = (
            set()
        )  # Loro peers of authors proven to equivocate: their records count nowhere
        self.evidence: OrderedDict[int, Evidence] = OrderedDict()  # the proofs, to pass on (the newest kept)
        self.on_new: Callable[[str, list[Record]], None] | None = None  # told of every record added
        # per kind, records another account pays for instead of their author's quota, when their content
        # proves it (quota.Exemption; replicas install pynode/presence/admission.exemptions())
        self.exemptions: dict[str, Exemption] = {}

    # ---- reading ----------------------------------------------------------------------------------

    def version(self) -> dict[str, VersionVector]:
        return {name: doc.version() for name, doc in self.docs.items()}

    def counts(self) -> dict[str, int]:
        return {name: len(recs) for name, recs in self.records.items()}

    def all_records(self, name: str) -> Iterable[Record]:
        return self.records[name].values()

    def export_since(self, name: str, have: VersionVector) -> bytes:
        return self.docs[name].export_updates(have)

    def snapshot(self, name: str) -> bytes:
        return self.docs[name].export_snapshot()

    # ---- writing ----------------------------------------------------------------------------------

    async def write(self, signer: Signer, records: list[Record]) -> dict[str, bytes]:
        """Commit our own records (one signed change per document); returns each document's update."""
        if signer.public_key != self.author:
            raise ValueError("a store writes only as its own author")
        async with self._busy:
            return await self._write(signer, records)

    async def _write(self, signer: Signer, records: list[Record]) -> dict[str, bytes]:
        by_doc: dict[str, list[Record]] = {}
        for r in records:
            if r.author != self.author:
                raise ValueError("a record signed by someone else cannot go into our namespace")
            by_doc.setdefault(doc_for(r.kind, r.body), []).append(r)
        updates = {}
        for name, recs in by_doc.items():
            known = self.records[name]
            fresh = list({r.key: r for r in recs if r.key not in known}.values())
            if not fresh:
                continue
            for r in fresh:  # every replica would refuse the change, and everything we wrote after it
                if (why := await self._refusal(r)) is not None:
                    raise ValueError(f"refused in {name}: {why}")
            try:
                trial = await self._admit(name, fresh)
            except Rejected as e:
                raise ValueError(f"over our quota in {name}: {e}") from None
            updates[name] = await self._commit(signer, name, [(r.key, r.encoded) for r in fresh])
            self.quotas[name].commit(trial)
            for r in fresh:
                known[r.key] = r
            self._notify(name, fresh)
        return updates

    def _notify(self, name: str, records: list[Record]) -> None:
        if self.on_new is not None and records:
            self.on_new(name, records)

    async def _commit(self, signer: Signer, name: str, items: list[tuple[str, bytes]]) -> bytes:
        doc = self.docs[name]
        for _ in range(MAX_WRITE_RETRIES):
            counter, lamport, deps = doc.next_change()
            sig = await signer.sign(change_payload(name, self.peer, counter, lamport, deps, 0, items))
            if doc.next_change() == (counter, lamport, deps):  # nothing was imported while we signed
                break
        else:
            raise RuntimeError("the document kept changing while we signed")
        before = doc.version()
        doc.put(ns(self.author), items, encode_message(self.author, sig))
        made = doc.change_at(self.peer, counter)
        if made is None or (made.lamport, made.deps, made.timestamp) != (lamport, deps, 0):
            raise RuntimeError("the CRDT recorded a change other than the one we signed")
        self._ledger(name, self.peer).append(counter, counter + len(items), sig_digest(made.message))
        return doc.export_updates(before)

    # ---- receiving --------------------------------------------------------------------------------

    async def receive(
        self,
        name: str,
        blob: bytes,
        now_ms: int,
        modes: tuple[str, ...] = ("updates",),
        only_author: bytes | None = None,
    ) -> list[Record]:
        """Validate `blob` and import it; returns the new records. Raises Rejected or Deferred.

        Long checks run in slices (`self.slices`); updates are checked one at a time."""
        async with self._busy:
            split = self._split(name, blob)
            try:
                return await self._receive(name, blob, now_ms, modes, only_author, split)
            finally:
                if split is not None:
                    split.close()

    async def _receive(
        self,
        name: str,
        blob: bytes,
        now_ms: int,
        modes: tuple[str, ...],
        only_author: bytes | None,
        split: BlobSplit | None,
    ) -> list[Record]:
        doc, meta = (
            self._header(name, blob, modes) if split is None else await self._split_header(name, split, modes)
        )
        if meta is None:  # the splitter cannot run here after all: the blob whole, as without one
            split = None
            doc, meta = self._header(name, blob, modes)
        sender_peer = loro_peer(only_author) if only_author is not None else None
        self.slices.fill()  # reading a snapshot's header reads all of it
        before = doc.version()
        if all(end <= before.get(p, 0) for p, end in meta.end.items()):
            raise Deferred("nothing_new")
        if meta.missing_from(before):
            raise Deferred("missing_dependencies")  # known from the header alone: no fork of the document
        checked = _Checked()
        try:
            if split is None:
                await self.slices.take()
                fork = self._fork_with(doc, blob, meta, before)
                self.slices.fill()
                await self._check_changes(checked, name, fork, before, sender_peer, now_ms)
            else:
                fork = await self._check_parts(checked, name, doc.fork(), split, meta, sender_peer, now_ms)
            trial = await self._admit(name, checked.records)
            await self._check_policy(checked.records)
            await self._verify(checked, before, meta)
        except BaseException:
            checked.abandon()
            raise
        return await self._keep(name, blob, doc, before, fork, checked, trial)

    async def _keep(
        self,
        name: str,
        blob: bytes,
        doc: CrdtDoc,
        before: VersionVector,
        fork: CrdtDoc,
        checked: _Checked,
        trial: Trial,
    ) -> list[Record]:
        """The checked update kept: exemptions asked, ledgers, the document, quotas and records updated."""
        for r in checked.records:
            if r.kind not in self.exemptions:  # nothing to ask (results, reviews...): no work, no coroutine
                continue
            await self.slices.take()
            if (why := await self._refusal(r)) is not None:
                raise Rejected("refused_record", f"{r.key[:12]}: {why}")
        # the ledgers first, in slices (readers meanwhile see entries beyond the document's version: chain_at
        # and agrees look up the document's own ends), then the document in one call
        kept = {peer: len(self._ledger(name, peer).entries) for peer, *_ in checked.spans}
        for peer, start, end, digest in checked.spans:
            await self.slices.take()
            self._ledger(name, peer).append(start, end, digest)
        await self.slices.take()
        if doc.version() == before:  # nothing changed it meanwhile (`_busy`): the fork is the document + blob
            self.docs[name] = fork  # and importing the blob again would cost as much as the fork's import
        else:
            try:
                doc.import_(blob)
            except CrdtError as e:  # imported fine into the fork a moment ago; only a CRDT bug gets here
                for peer, n in kept.items():
                    self.ledgers[name][peer].truncate(n)
                raise Rejected("malformed_update", str(e)) from None
            self.slices.fill()
        self.quotas[name].commit(trial)
        known = self.records[name]
        fresh = [r for r in checked.records if r.key not in known]
        if self.faulty:  # proven faulty while the check paused (mark_faulty): its records count nowhere
            for peer in {p for p, *_ in checked.spans} & self.faulty:
                self.ledgers[name].pop(peer, None)
            fresh = [r for r in fresh if loro_peer(r.author) not in self.faulty]
        for r in fresh:
            known[r.key] = r
        self._notify(name, fresh)
        return fresh

    async def restore(self, name: str, snapshot: bytes, sealed: bytes, secret: bytes) -> list[Record] | None:
        """Load a snapshot this replica sealed itself (sealed.py) into its empty document without checking it
        again: one import, and the records, quotas and ledgers its seal describes. None (nothing changed) when
        the seal does not hold or the document is not empty: `receive` checks the snapshot then."""
        async with self._busy:
            doc = self.docs.get(name)
            if doc is None or doc.version() or self.records[name] or self.ledgers[name]:
                return None
            opened = await open_sealed(self.author, name, snapshot, sealed, secret, self.slices)
            if opened is None:
                return None
            records = []
            for chunk in opened.chunks:
                for kind, author, ts, body, sig, encoded in unpack(chunk):
                    await self.slices.take()
                    records.append(record := Record(kind, author, ts, body, sig, encoded))
                    _ = record.key  # hashed here, in slices, rather than all at once below
            ledgers: dict[int, Ledger] = {}
            for peer, entries in opened.ledgers:
                ledger = ledgers[peer] = Ledger()
                for start, end, digest in entries:
                    await self.slices.take()
                    ledger.append(start, end, digest)
            await self.slices.take()
            fresh = self.crdt.crdt_doc(self.peer)
            try:
                fresh.import_(snapshot)
            except CrdtError:
                return None
            self.slices.fill()
            if fresh.version() != opened.version:
                return None
            self.docs[name] = fresh
            if (
                self.faulty
            ):  # proven faulty since it was sealed, or while this paused: its records count nowhere
                records = [r for r in records if loro_peer(r.author) not in self.faulty]
            self.ledgers[name] = {p: lg for p, lg in ledgers.items() if p not in self.faulty}
            self.quotas[name].load(opened.quotas)
            self.records[name].update((r.key, r) for r in records)
            self._notify(name, records)
            return records

    def _header(self, name: str, blob: bytes, modes: tuple[str, ...]) -> tuple[CrdtDoc, BlobMeta]:
        """The document `blob` is for and what its header says, checked before anything of it is read."""
        doc = self._doc_for(name, blob)
        try:
            meta = self.crdt.crdt_blob_meta(blob)
        except CrdtError as e:
            raise Rejected("malformed_update", str(e)) from None
        return doc, _checked_meta(meta, modes)

    def _doc_for(self, name: str, blob: bytes) -> CrdtDoc:
        doc = self.docs.get(name)
        if doc is None:
            raise Rejected("unknown_document", name[:32])
        if len(blob) > MAX_BLOB_BYTES:
            raise Rejected("oversized", f"{len(blob)} bytes")
        return doc

    # ---- a large blob in bounded parts (crdt.BlobSplit) -------------------------------------------------

    def _split(self, name: str, blob: bytes) -> BlobSplit | None:
        """A large blob for an empty document (a cold start's snapshot), where the runtime pauses between
        slices and the platform splits blobs off its thread: its parts, or None to take it whole. Its header
        read and its import are one call each that grows with the blob (a 2 MB snapshot: 20-30 ms each in a
        tab); a part's are bounded. A document that holds changes takes blobs whole (parts are cut from what
        the blob holds alone)."""
        make = getattr(self.crdt, "crdt_split", None)
        doc = self.docs.get(name)
        if make is None or self.slices.window is None or doc is None or doc.version():
            return None
        if not SPLIT_MIN_BYTES <= len(blob) <= MAX_BLOB_BYTES:
            return None
        split: BlobSplit | None = make(blob, SPLIT_CHANGES)
        return split

    async def _split_header(
        self, name: str, split: BlobSplit, modes: tuple[str, ...]
    ) -> tuple[CrdtDoc, BlobMeta | None]:
        """`_header`, from the splitter; no header (None) where the splitter turns out unable to run."""
        doc = self.docs[name]
        try:
            meta = await split.meta()
        except SplitUnavailable:
            return doc, None
        except CrdtError as e:
            raise Rejected("malformed_update", str(e)) from None
        return doc, _checked_meta(meta, modes)

    async def _check_parts(
        self,
        out: _Checked,
        name: str,
        fork: CrdtDoc,
        split: BlobSplit,
        meta: BlobMeta,
        sender_peer: int | None,
        now_ms: int,
    ) -> CrdtDoc:
        """The blob's parts imported one at a time into `fork` (of an empty document), each part's changes
        checked as they come (`_check_changes`); returns the fork, which then holds the blob. The splitter
        read hostile bytes, so its parts are trusted no further: at most SPLIT_CHANGES changes each, all of
        them no more than the blob's header announced, each importable on what came before it, and together
        exactly the version the header names."""
        at: VersionVector = {}
        while True:
            await self.slices.take()
            try:
                part = await split.next()
                if part is None:
                    break
                if len(part) > MAX_BLOB_BYTES:
                    raise Rejected("oversized", f"a part of {len(part)} bytes")
                claimed = self.crdt.crdt_blob_meta(part).change_count  # a part's header: a bounded read
                if not 0 < claimed <= SPLIT_CHANGES or out.changes + claimed > meta.change_count:
                    raise Rejected("bad_part", f"a part of {claimed} changes")
                checked_before = out.changes
                if fork.import_(part).pending:
                    raise Rejected("inconsistent_metadata", "a part depends on changes not before it")
                after = fork.version()
            except SplitUnavailable:  # the splitter's worker failed, not the blob: ask again later
                raise Deferred("split_unavailable") from None
            except CrdtError as e:
                raise Rejected("malformed_update", str(e)) from None
            self.slices.fill()
            await self._check_changes(out, name, fork, at, sender_peer, now_ms, after)
            if out.changes - checked_before > claimed:  # more than its header said (and the import took)
                raise Rejected("bad_part", "a part holds more changes than its header says")
            at = after
        if at != meta.end:
            raise Rejected("inconsistent_metadata", "the blob's parts do not add up to its header's version")
        return fork

    async def _launch(self, checked: _Checked) -> None:
        """Start verifying the checks found so far, VERIFY_BATCH slices' worth per batch: in a tab WebCrypto works on its
        own thread meanwhile, while the next records are checked here. A sliced check keeps at most VERIFY_AHEAD
        batches unanswered (an answer that can say it is not in yet: `done()`); `_verify` starts the rest."""
        step = VERIFY_BATCH * self.slices.window if self.slices.window else len(checked.checks) or 1
        while checked.launched < len(checked.checks):
            if self.slices.window is not None:
                while checked.open_from < len(checked.verifying) and _answered(
                    checked.verifying[checked.open_from]
                ):
                    checked.open_from += 1
                if len(checked.verifying) - checked.open_from >= VERIFY_AHEAD:
                    return
            batch = checked.checks[checked.launched : checked.launched + step]
            await self.slices.take(_batch_units(len(batch)))
            checked.verifying.append(
                (batch, verify_later([c for _, _, c in batch]))  # SigChecks: (key, message, signature)
            )
            checked.launched += len(batch)

    async def _verify(self, checked: _Checked, before: VersionVector, meta: BlobMeta) -> None:
        """Every signature's answer, in order: the first that fails decides, as verifying one by one would."""
        i = 0
        while True:
            await self._launch(checked)  # the next batches, as earlier ones are answered
            if i == len(checked.verifying):
                return
            batch, answers = checked.verifying[i]
            # a chance to pause before each wait: in a tab, while WebCrypto's answers keep coming, Chromium
            # runs them before any timer, so only the runtime's turn lets the timers in
            await self.slices.take(_batch_units(len(batch)))
            for (peer, start, _), ok in zip(batch, await answers, strict=True):
                if ok:
                    continue
                if start == before.get(peer, 0) > 0 and meta.start.get(peer, 0) < start:
                    raise Deferred("conflicting_history")  # as above, a version Loro cut where ours ends
                raise Rejected("bad_signature", "a change or record signature does not verify")
            i += 1

    @staticmethod
    def _fork_with(doc: CrdtDoc, blob: bytes, meta: BlobMeta, before: VersionVector) -> CrdtDoc:
        """A fork of `doc` with `blob` imported into it."""
        fork = doc.fork()
        try:
            if fork.import_(blob).pending:
                # Loro's header names every dependency an exported blob has; this one hid some
                raise Rejected("inconsistent_metadata", "the update depends on more than its header says")
        except CrdtError as e:
            if any(meta.start.get(p, 0) < before.get(p, 0) < end for p, end in meta.end.items()):
                # it overlaps what we hold of an author and Loro found other operations under those ids:
                # two versions of the author's changes exist. Nobody forged anything: pulls find out which
                # (equivocation.py), and whoever forwarded this is not to blame
                raise Deferred("conflicting_history") from None
            raise Rejected("malformed_update", str(e)) from None
        return fork

    async def _check_changes(
        self,
        out: _Checked,
        name: str,
        fork: CrdtDoc,
        before: VersionVector,
        sender_peer: int | None,
        now_ms: int,
        version: VersionVector | None = None,
    ) -> None:
        """Every change the fork has beyond `before` (up to `version`, the fork's, when the caller just read
        it): authorship, namespace, records (each author's in chain order). Fills `out`: the new records, the
        signatures to verify (started as found) and the spans for the ledgers."""
        # the caller's import filled the slice (a whole snapshot's: 15-45 ms in a tab): the first read of
        # changes (up to ~20 ms) starts the next one, or the two held the loop together (53.8 ms measured)
        await self.slices.take()
        for peer, end in (fork.version() if version is None else version).items():
            start = before.get(peer, 0)
            if end <= start:
                continue
            if sender_peer is not None and peer != sender_peer:
                raise Rejected("not_senders_changes", "gossip carries only its publisher's own changes")
            window = None if self.slices.window is None else READ_WINDOW * self.slices.window
            for changes in _whole_changes(fork, peer, start, end, window):
                records: list[Record] = []
                out.changes += len(changes)
                for change in changes:
                    await self.slices.take(max(1, change.length))
                    checked = check_change(name, change, now_ms)
                    if peer in self.faulty:
                        # kept for their ids only (honest changes may depend on them): no record of it counts,
                        # and a slice of one of its two versions has no signature that verifies
                        if change.counter + change.length > AUTHOR_RECORDS:
                            raise Rejected("over_quota", "a faulty author's ids")
                        continue
                    records.extend(checked.records)
                    out.checks += [(peer, change.counter, c) for c in checked.sig_checks]
                    out.spans.append(
                        (peer, change.counter, change.counter + change.length, sig_digest(change.message))
                    )
                if records:  # what Loro stored is what we checked (one author: one namespace)
                    stored = fork.get_many(ns(records[0].author), [r.key for r in records])
                    if any(v != r.encoded for v, r in zip(stored, records, strict=True)):
                        raise Rejected("bad_value", "stored value differs from the operation's")
                out.records.extend(records)
                await self._launch(out)

    async def _admit(self, name: str, records: list[Record]) -> Trial:
        """Each record against its author's quota, in chain order (the same verdict everywhere), or against an
        exemption's account, which may look up the records held and those this update brings."""
        known = self.records[name]
        batch = {r.key: r for r in records}
        trial = self.quotas[name].trial(self.exemptions, lambda k: known.get(k) or batch.get(k))
        for r in records:
            await self.slices.take()
            if (why := trial.admit(r)) is not None:
                raise Rejected("over_quota", why)
        return trial

    async def _refusal(self, record: Record) -> str | None:
        exemption = self.exemptions.get(record.kind)
        return None if exemption is None else await exemption.refusal(record)

    async def _check_policy(self, records: list[Record]) -> None:
        if self.policy is None:
            return
        for r in records:
            await self.slices.take()
            try:
                self.policy(r)
            except ValueError as e:
                raise Rejected("refused_record", f"{r.key[:12]}: {e}") from None

    # ---- equivocation (equivocation.py) -----------------------------------------------------------------

    def _ledger(self, name: str, peer: int) -> Ledger:
        ledger = self.ledgers[name].get(peer)
        if ledger is None:
            ledger = self.ledgers[name][peer] = Ledger()
        return ledger

    def have(self, name: str) -> list[list[Any]]:
        """What a pull says we hold: [peer, end counter, chain] per author ([peer, end] for faulty ones, whose
        two histories are no longer compared)."""
        out: list[list[Any]] = []
        for peer, end in sorted(self.docs[name].version().items()):
            ledger = self.ledgers[name].get(peer)
            chain = ledger.chain_at(end) if ledger is not None and peer not in self.faulty else None
            out.append([peer, end] if chain is None else [peer, end, chain])
        return out

    def disagreeing(self, name: str, chains: dict[int, tuple[int, bytes]]) -> list[int]:
        """Authors whose history up to a peer's (end, chain) is not ours: we hold as much or more of theirs,
        but no change of ours ends there, or the chain up to it differs."""
        out = []
        for peer, (end, chain) in chains.items():
            ledger = self.ledgers[name].get(peer)
            if peer in self.faulty or ledger is None or ledger.end < end:
                continue  # not compared, or we are behind: they will see it when they answer us
            if not ledger.agrees(end, chain):
                out.append(peer)
        return out

    def change_form(self, name: str, peer: int, start: int, end: int) -> dict[str, Any] | None:
        """One whole change of ours, as evidence needs it; None unless exactly one change spans start..end."""
        ledger = self.ledgers[name].get(peer)
        if ledger is None or ledger.chain_at(end) is None:
            return None
        found = self.docs[name].changes(peer, start, end)
        if len(found) != 1 or (found[0].counter, found[0].length) != (start, end - start):
            return None
        return form_of(name, found[0])

    def mark_faulty(self, evidence: Evidence) -> None:
        """`evidence` (both signatures verified) proves its author equivocated: from now on its records count
        nowhere, in any document, and its changes are kept for their ids only."""
        peer = loro_peer(evidence.author)
        if peer in self.faulty:
            return
        self.faulty.add(peer)
        self.evidence[peer] = evidence
        while len(self.evidence) > MAX_EVIDENCE_KEPT:
            self.evidence.popitem(last=False)
        for name, recs in self.records.items():
            for key in [k for k, r in recs.items() if r.author == evidence.author]:
                del recs[key]
            self.ledgers[name].pop(peer, None)

    def stats(self) -> dict[str, Any]:
        return {
            "records": sum(self.counts().values()),
            "by_doc": self.counts(),
            "faulty_authors": len(self.faulty),
        }


def _checked_meta(meta: BlobMeta, modes: tuple[str, ...]) -> BlobMeta:
    """A blob's header, if it is one we take: a mode asked for, and no more changes than we check at once."""
    if meta.mode not in modes:
        raise Rejected("bad_mode", f"{meta.mode} where {modes} expected")
    if meta.change_count > MAX_CHANGES_PER_BLOB:
        raise Rejected("too_many_changes", str(meta.change_count))
    return meta


def _batch_units(checks: int) -> int:
    """The units of work a verification batch of `checks` signatures costs the loop (VERIFY_BATCH)."""
    return -(-checks // VERIFY_BATCH)


def _answered(entry: tuple[Any, Awaitable[list[bool]]]) -> bool:
    """Are a batch's answers in? Answers that cannot tell (native ones are there at once) count as in."""
    done = getattr(entry[1], "done", None)
    return done is None or bool(done())


def _whole_changes(
    fork: CrdtDoc, peer: int, start: int, end: int, window: int | None
) -> Iterator[list[Change]]:
    """`peer`'s changes from `start` to `end`, a window of about `window` counters per read (None: all in one),
    each change whole: a read that stops inside a change returns a cut of it, so a window's last change is
    read again at the start of the next (a single change longer than the window doubles it)."""
    size = window or end - start
    while start < end:
        stop = min(end, start + size)
        changes = fork.changes(peer, start, stop)
        if not changes:  # nothing where the version says there is: the CRDT disagrees with itself
            raise Rejected("malformed_update", "a span of changes cannot be read back")
        if stop < end:
            if len(changes) == 1:
                size *= 2  # one change, maybe cut: read it again, whole
                continue
            changes.pop()  # maybe cut; it starts the next window
        yield changes
        start = changes[-1].counter + changes[-1].length
