"""A large blob for an empty document checked in parts (crdt.BlobSplit, Store._check_parts): the same verdict and
state as taking it whole, no import given more than a part's bound, and a splitter that parsed hostile bytes
trusted no further than the blob (oversized parts, more parts than the header announced, parts that do not add
up are refused)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pynode.platform import native
from pynode.platform.crdt import BlobMeta, CrdtError, SplitUnavailable, split_spans
from pynode.platform.native_loro import LoroCrdtDoc, LoroSplit, blob_meta
from pynode.state import store as store_module
from pynode.state.authorship import Rejected
from pynode.state.slices import Slices
from pynode.state.store import Deferred, Store
from pynode.state.sync import run_sync
from tests.test_state_slices import DOC, NOW, Author, board, forged, refuse_666, state

PART = 8  # changes a part (SPLIT_CHANGES here): the boards below make several


async def _no_pause() -> None:
    return None


class Recording(LoroCrdtDoc):
    """A real Loro document that notes how many changes each import hands it (the bound under test)."""

    imports: list[int] = []

    def import_(self, blob: bytes) -> Any:
        Recording.imports.append(blob_meta(blob).change_count)
        return super().import_(blob)

    def fork(self) -> Recording:
        return Recording(self._doc.fork(), peer=self.peer)


class Platform:
    """The native platform with documents that record their imports and a splitter (`make`)."""

    def __init__(self, make: Callable[[bytes, int], Any] | None = LoroSplit) -> None:
        if make is not None:
            self.crdt_split = make

    def crdt_doc(self, peer: int | None = None) -> Recording:
        return Recording(peer=peer)

    def crdt_blob_meta(self, blob: bytes) -> BlobMeta:
        return native.crdt_blob_meta(blob)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    monkeypatch.setattr(store_module, "SPLIT_CHANGES", PART)
    monkeypatch.setattr(store_module, "SPLIT_MIN_BYTES", 0)
    Recording.imports = []


@pytest.fixture(scope="module")
def honest() -> list[Author]:
    authors = [Author(i) for i in (21, 22, 23)]
    authors[0].records(30)
    authors[1].records(12, per_change=3)  # changes of three records
    authors[2].records(9)
    return authors


def receive(blob: bytes, platform: Any, budget: int | None = 4) -> tuple[Any, Store]:
    store = Store(
        bytes(32), platform, policy=refuse_666, slices=Slices(budget, _no_pause) if budget else None
    )
    try:
        got: Any = sorted(r.key for r in run_sync(store.receive(DOC, blob, NOW, ("snapshot", "updates"))))
    except (Rejected, Deferred) as e:
        got = (type(e).__name__, e.reason)
    return got, store


def test_parts_are_causal_bounded_and_hold_authors_in_runs():
    # two authors in step (Lamport 0, 1, 2...), each change of 2 ops after its own last; the third author's
    # first change waits for author 5's fourth
    changes = [(lamport, peer, 2 * lamport, 2, ((peer, 2 * lamport - 1),) if lamport else ()) for peer in (5, 9)
               for lamport in range(7)]  # fmt: skip
    changes.append((4, 7, 0, 1, ((5, 7),)))
    parts = split_spans(changes, 3)
    assert [sum((end - start) // 2 or 1 for _, start, end in part) for part in parts] == [3, 3, 3, 3, 3]
    assert parts[0] == [(5, 0, 6)] and parts[1] == [(5, 6, 12)]  # one author's run, not both in turn
    seen: dict[int, int] = {}
    for part in parts:
        for peer, start, end in part:
            assert start == seen.get(peer, 0)  # each author's changes in order, none cut
            seen[peer] = end
            assert peer != 7 or seen[5] >= 8  # after its dependency
    assert seen == {5: 14, 9: 14, 7: 1}
    with pytest.raises(ValueError):
        split_spans(changes, 0)
    with pytest.raises(ValueError):
        split_spans([(1, 5, 0, 1, ()), (0, 5, 1, 1, ())], 3)


def test_a_board_in_parts_gives_the_whole_blobs_records_and_state_importing_no_more_than_a_part_at_once(
    honest,
):
    blob = board(*honest)
    whole, whole_store = receive(blob, native, budget=None)
    assert len(whole) == 51
    got, store = receive(blob, Platform())
    assert got == whole
    assert state(store) == state(whole_store)
    assert blob_meta(blob).change_count == 43 and len(Recording.imports) >= 43 // PART
    assert max(Recording.imports) <= PART  # the snapshot itself was never imported: only parts


def test_a_forged_record_in_a_later_part_is_refused(honest):
    liar = Author(24)
    liar.records(12)
    liar.change([forged(liar.id, "0.5", NOW - 5000)])
    got, store = receive(board(*honest, liar), Platform())
    assert got == ("Rejected", "bad_signature")
    assert not store.records[DOC] and not store.docs[DOC].version()


def test_a_store_without_pauses_or_a_splitter_takes_the_blob_whole(honest):
    blob = board(*honest)
    got, _ = receive(blob, Platform(), budget=None)
    assert len(got) == 51 and Recording.imports == [43]
    got, _ = receive(blob, Platform(make=None))
    assert len(got) == 51 and Recording.imports == [43, 43]


class Unavailable(LoroSplit):
    async def meta(self) -> BlobMeta:
        raise SplitUnavailable("no worker here")


def test_a_splitter_that_cannot_run_leaves_the_blob_to_be_taken_whole(honest):
    got, _ = receive(board(*honest), Platform(Unavailable))
    assert len(got) == 51 and Recording.imports == [43]


class BreaksMidway(LoroSplit):
    async def next(self) -> bytes | None:
        if getattr(self, "gave", False):
            raise SplitUnavailable("its worker stopped")
        self.gave = True
        return await super().next()


def test_a_splitter_that_stops_midway_defers_the_blob_without_blaming_it(honest):
    got, store = receive(board(*honest), Platform(BreaksMidway))
    assert got == ("Deferred", "split_unavailable")  # not Rejected: whoever sent it is not penalised
    assert not store.records[DOC] and not store.docs[DOC].version()


# ---- a splitter that read hostile bytes ---------------------------------------------------------------


class OnePart(LoroSplit):
    """Hands the whole blob over as one part: an import as large as the blob's."""

    async def next(self) -> bytes | None:
        blob, self._blob = self._blob, b""
        return blob or None


class Replaying(LoroSplit):
    """Its parts, then the first of them again and again: a flood of parts past what the header announced."""

    async def next(self) -> bytes | None:
        part = await super().next()
        if part is not None:
            self.first = getattr(self, "first", part)
            return part
        self.replays = getattr(self, "replays", 0) + 1
        return self.first if self.replays < 1000 else None


class Dropping(LoroSplit):
    """Leaves out its last part: what it hands over is not what the blob holds."""

    async def next(self) -> bytes | None:
        part = await super().next()
        return part if self._parts else None


class Failing(LoroSplit):
    async def next(self) -> bytes | None:
        raise CrdtError("the blob cannot be imported")


@pytest.mark.parametrize(
    ("splitter", "reason"),
    [
        (OnePart, "bad_part"),
        (Replaying, "bad_part"),
        (Dropping, "inconsistent_metadata"),
        (Failing, "malformed_update"),
    ],
)
def test_hostile_parts_are_refused_and_nothing_is_kept(honest, splitter, reason):
    got, store = receive(board(*honest), Platform(splitter))
    assert got == ("Rejected", reason)
    assert not store.records[DOC] and not store.docs[DOC].version() and not store.ledgers[DOC]
    assert all(n <= PART for n in Recording.imports)
