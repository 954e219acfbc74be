"""A replica's sealed copy of a document it checked (pynode/state/sealed.py) loads back as exactly the state it was
sealed from without checking anything again, in every slicing; a seal that does not hold for the bytes at hand
leaves the store as it was, for `receive` to check them in full."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pynode.platform import native
from pynode.state.authorship import loro_peer
from pynode.state.sealed import capture, seal
from pynode.state.slices import Slices
from pynode.state.store import Store
from pynode.state.sync import run_sync
from tests.test_state_slices import DOC, NOW, Author, _no_pause, board, state

SECRET = bytes(range(32))
ME = bytes(32)


@pytest.fixture
def authors() -> list[Author]:
    authors = [Author(i) for i in (4, 5, 6)]
    authors[0].records(30)
    authors[1].records(12, per_change=3)
    authors[2].records(9)
    return authors


@pytest.fixture
def checked(authors: list[Author]) -> Store:
    store = Store(ME, native)
    run_sync(store.receive(DOC, board(*authors), NOW, ("snapshot", "updates")))
    return store


def sealed_copy(store: Store, secret: bytes = SECRET, name: str = DOC) -> tuple[bytes, bytes]:
    captured = run_sync(capture(store, name))
    return captured.snapshot, run_sync(seal(store.author, name, captured, secret, Slices()))


def restored(snapshot: bytes, sealed: bytes, secret: bytes = SECRET, budget: int | None = None) -> Store:
    store = Store(ME, native, slices=Slices(budget, _no_pause) if budget else None)
    run_sync(store.restore(DOC, snapshot, sealed, secret))
    return store


def empty(store: Store) -> bool:
    return not store.docs[DOC].version() and not store.records[DOC] and not store.ledgers[DOC]


@pytest.mark.parametrize("budget", [None, 1, 16])
def test_a_sealed_document_restores_the_state_it_was_sealed_from(checked, budget):
    snapshot, sealed = sealed_copy(checked)
    store = restored(snapshot, sealed, budget=budget)
    assert state(store) == state(checked)
    assert store.records[DOC] == checked.records[DOC]
    assert len(store.records[DOC]) == 51
    if budget is not None:
        assert store.slices.pauses > 0
        assert store.slices.largest <= budget


def test_a_restored_store_judges_the_next_update_as_the_store_it_was_sealed_from(checked, authors):
    snapshot, sealed = sealed_copy(checked)
    store = restored(snapshot, sealed)
    before = checked.docs[DOC].version()
    authors[0].records(2, start=30)
    update = authors[0].doc.export_updates(before)
    assert [r.key for r in run_sync(store.receive(DOC, update, NOW))] == [
        r.key for r in run_sync(checked.receive(DOC, update, NOW))
    ]
    assert state(store) == state(checked)


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_a_seal_that_does_not_hold_leaves_the_store_untouched(checked):
    snapshot, sealed = sealed_copy(checked)
    at = sealed.index(b"0.7")  # a record's value, in the description
    other_doc = Store(ME, native)
    other_doc.docs["results.search"] = checked.docs[DOC]
    for snap, seal_, secret in [
        (snapshot, flipped(sealed, at), SECRET),  # a record altered in the description
        (snapshot, flipped(sealed, 3), SECRET),  # the MAC itself
        (flipped(snapshot, len(snapshot) // 2), sealed, SECRET),  # the snapshot altered
        (snapshot, sealed, bytes(32)),  # another secret
        (snapshot, sealed[:-1], SECRET),  # cut short
        (snapshot, sealed_copy(checked, name="results.search")[1], SECRET),  # sealed as another document
    ]:
        store = restored(snap, seal_, secret)
        assert empty(store)
    stranger = Store(bytes(31) + b"\x01", native)  # another identity's storage, even under this secret
    assert run_sync(stranger.restore(DOC, snapshot, sealed, SECRET)) is None
    assert not stranger.records[DOC]


def test_a_seal_loads_only_into_an_empty_document(checked, authors):
    snapshot, sealed = sealed_copy(checked)
    store = Store(ME, native)
    run_sync(store.receive(DOC, authors[2].doc.export_updates({}), NOW))
    held = state(store)
    assert run_sync(store.restore(DOC, snapshot, sealed, SECRET)) is None
    assert state(store) == held
    run_sync(store.receive(DOC, snapshot, NOW, ("snapshot",)))  # what the tab does then: check it in full
    assert state(store) == state(checked)


def test_an_author_proven_faulty_since_the_seal_counts_nowhere_after_restoring(checked, authors):
    snapshot, sealed = sealed_copy(checked)
    store = Store(ME, native)
    faulty = loro_peer(authors[1].id.peer_id)
    store.faulty.add(faulty)  # as loading the saved evidence first leaves it
    run_sync(store.restore(DOC, snapshot, sealed, SECRET))
    assert store.docs[DOC].version() == checked.docs[DOC].version()  # its changes are kept for their ids
    assert {r.author for r in store.records[DOC].values()} == {authors[0].id.peer_id, authors[2].id.peer_id}
    assert faulty not in store.ledgers[DOC]


def test_a_seal_is_taken_between_two_checks_never_inside_one(authors):
    """A check that paused has appended ledger entries its document does not hold yet: a seal taken then would
    describe another state than its snapshot's."""

    async def main() -> tuple[Store, Any, bool]:
        store = Store(ME, native, slices=Slices(1, lambda: asyncio.sleep(0)))  # pauses: a turn of the loop
        check = asyncio.ensure_future(store.receive(DOC, board(*authors), NOW, ("snapshot", "updates")))
        for _ in range(50):
            await asyncio.sleep(0)
        paused = not check.done()
        return store, await capture(store, DOC), paused and check.done()

    store, captured, waited = asyncio.run(main())
    assert waited
    assert dict(captured.version) == store.docs[DOC].version()
    assert len(captured.records) == 51
