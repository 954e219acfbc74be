"""The replicated documents of one replica, and the only way anything gets into them.

`write` signs and commits our own records; `receive` is validation-before-import: an update is size-limited,
its metadata read without importing it (an update whose header names dependencies we lack waits, unforked),
then it is imported into a fork of the document and every new change is checked (authorship.check_change)
and every signature verified; only then is it imported for real. Any bad change rejects the whole update.

A Store is handed its CRDT (a `Crdt`: the platform, from whoever composes the node) and verifies signatures
through `pynode.identity.verify`; it never asks the platform for anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pynode.identity import Signer, verify
from pynode.platform.crdt import Crdt, CrdtDoc, CrdtError, VersionVector
from pynode.state.authorship import (
    Rejected,
    change_payload,
    check_change,
    encode_message,
    loro_peer,
    ns,
)
from pynode.state.limits import MAX_BLOB_BYTES, MAX_CHANGES_PER_BLOB, MAX_WRITE_RETRIES
from pynode.state.quota import Quotas, Trial
from pynode.state.records import DOCS, Record, doc_for


class Deferred(Exception):
    """An honest update we cannot use yet (it depends on changes we lack) or at all (nothing new)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Policy = Callable[[Record], None]


class Store:
    def __init__(self, author: bytes, crdt: Crdt, policy: Policy | None = None) -> None:
        """`policy`: checks a record must pass beyond its schema (e.g. a result's config against its research
        domain); it raises ValueError to refuse, and the whole update is then refused like a forgery."""
        self.author = author
        self.crdt = crdt
        self.policy = policy
        self.peer = loro_peer(author)
        self.docs: dict[str, CrdtDoc] = {name: crdt.crdt_doc(self.peer) for name in DOCS}
        self.records: dict[str, dict[str, Record]] = {name: {} for name in DOCS}  # validated, decoded
        self.quotas: dict[str, Quotas] = {name: Quotas() for name in DOCS}  # what each author put in each
        self.on_new: Callable[[str, list[Record]], None] | None = None  # told of every record added

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
            trial = self.quotas[name].trial()
            for r in fresh:  # every replica would refuse the change, and everything we wrote after it
                if (why := trial.admit(r)) is not None:
                    raise ValueError(f"over our quota in {name}: {why}")
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
        """Validate `blob` and import it; returns the new records. Raises Rejected or Deferred."""
        doc = self.docs.get(name)
        if doc is None:
            raise Rejected("unknown_document", name[:32])
        if len(blob) > MAX_BLOB_BYTES:
            raise Rejected("oversized", f"{len(blob)} bytes")
        try:
            meta = self.crdt.crdt_blob_meta(blob)
        except CrdtError as e:
            raise Rejected("malformed_update", str(e)) from None
        if meta.mode not in modes:
            raise Rejected("bad_mode", f"{meta.mode} where {modes} expected")
        if meta.change_count > MAX_CHANGES_PER_BLOB:
            raise Rejected("too_many_changes", str(meta.change_count))
        sender_peer = loro_peer(only_author) if only_author is not None else None
        before = doc.version()
        if all(end <= before.get(p, 0) for p, end in meta.end.items()):
            raise Deferred("nothing_new")
        if meta.missing_from(before):
            raise Deferred("missing_dependencies")  # known from the header alone: no fork of the document
        fork = doc.fork()
        try:
            if fork.import_(blob).pending:
                # Loro's header names every dependency an exported blob has; this one hid some
                raise Rejected("inconsistent_metadata", "the update depends on more than its header says")
        except CrdtError as e:
            raise Rejected("malformed_update", str(e)) from None
        trial = self.quotas[name].trial()
        new, checks = self._check_changes(name, fork, before, sender_peer, now_ms, trial)
        self._check_policy(new)
        for c in checks:
            if not await verify(c.public_key, c.message, c.sig):
                raise Rejected("bad_signature", "a change or record signature does not verify")
        try:
            doc.import_(blob)
        except CrdtError as e:  # imported fine into the fork a moment ago; only a CRDT bug gets here
            raise Rejected("malformed_update", str(e)) from None
        self.quotas[name].commit(trial)
        known = self.records[name]
        fresh = [r for r in new if r.key not in known]
        for r in fresh:
            known[r.key] = r
        self._notify(name, fresh)
        return fresh

    @staticmethod
    def _check_changes(
        name: str, fork: CrdtDoc, before: VersionVector, sender_peer: int | None, now_ms: int, trial: Trial
    ) -> tuple[list[Record], list[Any]]:
        """Every change the fork has beyond `before`: authorship, namespace, records, the author's quota.
        Returns the new records and the signatures still to verify."""
        new: list[Record] = []
        checks: list[Any] = []
        for peer, end in fork.version().items():
            start = before.get(peer, 0)
            if end <= start:
                continue
            if sender_peer is not None and peer != sender_peer:
                raise Rejected("not_senders_changes", "gossip carries only its publisher's own changes")
            for change in fork.changes(peer, start, end):
                checked = check_change(name, change, now_ms)
                for r in checked.records:
                    if fork.get(ns(r.author), r.key) != r.encoded:  # what Loro stored is what we checked
                        raise Rejected("bad_value", "stored value differs from the operation's")
                    if (why := trial.admit(r)) is not None:  # in chain order: the same verdict everywhere
                        raise Rejected("over_quota", why)
                new.extend(checked.records)
                checks.extend(checked.sig_checks)
        return new, checks

    def _check_policy(self, records: list[Record]) -> None:
        if self.policy is None:
            return
        for r in records:
            try:
                self.policy(r)
            except ValueError as e:
                raise Rejected("refused_record", f"{r.key[:12]}: {e}") from None

    def stats(self) -> dict[str, Any]:
        return {"records": sum(self.counts().values()), "by_doc": self.counts()}
