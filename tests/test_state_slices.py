"""A state check run in slices (pynode/state/slices.py) comes to exactly the verdict of one run straight through,
hostile records included wherever slice boundaries fall, and no slice holds more work than its budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.state import store as store_module
from pynode.state.authorship import Rejected, change_payload, encode_message, loro_peer, ns
from pynode.state.limits import AUTHOR_RATE
from pynode.state.records import Record, make_record, record_key
from pynode.state.slices import Slices
from pynode.state.store import Deferred, Store
from pynode.state.sync import run_sync
from pynode.wire import cbor

DOC = "results.ml"
NOW = int(time.time() * 1000)
BUDGETS = (1, 3, 16)


def result(author: Identity, value: str, ts: int) -> Record:
    body = {"domain": "ml", "task": "mlp-digits", "metric": "val_loss", "unit": "nats", "direction": "min",
            "value": value, "seeds": 3}  # fmt: skip
    return run_sync(make_record(author.signer, "result", body, ts))


def forged(author: Identity, value: str, ts: int) -> tuple[str, bytes]:
    """A record whose own signature is zeros (its change is signed properly)."""
    good = result(author, value, ts)
    encoded = cbor.encode({**good.unsigned(), "sig": bytes(64)})
    return record_key(encoded), encoded


class Author:
    """One key writing signed changes into its own namespace of a document, hostile ones included."""

    def __init__(self, seed: int) -> None:
        self.id = run_sync(Identity.from_seed(bytes([seed]) * 32))
        self.doc = native.crdt_doc(loro_peer(self.id.peer_id))

    def change(self, items: list[tuple[str, bytes]]) -> None:
        counter, lamport, deps = self.doc.next_change()
        sig = self.id.signer.sign_now(change_payload(DOC, self.doc.peer, counter, lamport, deps, 0, items))
        self.doc.put(ns(self.id.peer_id), items, encode_message(self.id.peer_id, sig))

    def records(self, n: int, start: int = 0, per_change: int = 1, ts_step: int = 1000) -> None:
        for i in range(start, start + n, per_change):
            recs = [result(self.id, f"0.{j}", NOW - 10**7 + j * ts_step) for j in range(i, i + per_change)]
            self.change([(r.key, r.encoded) for r in recs])


def board(*authors: Author) -> bytes:
    doc = native.crdt_doc()
    for a in authors:
        doc.import_(a.doc.export_updates({}))
    return doc.export_snapshot()


def refuse_666(record: Record) -> None:
    if record.body.get("value") == "0.666":
        raise ValueError("a value this policy refuses")


async def _no_pause() -> None:
    return None  # never suspends: run_sync drives the sliced check like any other


def outcome(blob: bytes, budget: int | None, seed: bytes | None = None) -> tuple[Any, Store]:
    """(the new records' keys, sorted: authors come in the CRDT's order, or the exception's kind and reason;
    the store after)."""
    store = Store(bytes(32), native, policy=refuse_666,
                  slices=Slices(budget, _no_pause) if budget else None)  # fmt: skip
    if seed is not None:
        run_sync(store.receive(DOC, seed, NOW, ("snapshot", "updates")))
    try:
        got: Any = sorted(r.key for r in run_sync(store.receive(DOC, blob, NOW, ("snapshot", "updates"))))
    except (Rejected, Deferred) as e:
        got = (type(e).__name__, e.reason)
    return got, store


def state(store: Store) -> Any:
    return (
        store.version(),
        sorted(store.records[DOC]),
        {p: (lg.entries, lg.chains) for p, lg in store.ledgers[DOC].items()},
        {a: (u.records, u.bytes, u.times) for a, u in store.quotas[DOC]._usage.items()},
    )


def assert_same_in_slices(blob: bytes, expected: Any, seed: bytes | None = None, biggest: int = 1) -> None:
    whole, whole_store = outcome(blob, None, seed)
    assert whole == expected, whole
    for budget in BUDGETS:
        sliced, store = outcome(blob, budget, seed)
        assert sliced == whole, budget
        assert state(store) == state(whole_store), budget
        assert store.slices.pauses > 0
        assert store.slices.largest <= max(budget, biggest), budget


@pytest.fixture(scope="module")
def honest() -> list[Author]:
    authors = [Author(i) for i in (1, 2, 3)]
    authors[0].records(40)
    authors[1].records(21, per_change=3)  # changes of three records: units beyond a budget of 1
    authors[2].records(17)
    return authors


def test_an_honest_board_gives_the_same_records_and_state_in_every_slicing(honest):
    blob = board(*honest)
    whole, _ = outcome(blob, None)
    assert len(whole) == 78
    assert_same_in_slices(blob, whole, biggest=3)


def test_a_forged_record_signature_in_the_middle_of_a_chain_is_refused_in_every_slicing(honest):
    liar = Author(9)
    liar.records(23)
    liar.change([forged(liar.id, "0.5", NOW - 5000)])
    liar.records(10, start=30)
    assert_same_in_slices(board(*honest, liar), ("Rejected", "bad_signature"), biggest=3)


def test_an_author_over_its_rate_is_refused_at_the_same_record_in_every_slicing(honest):
    flood = Author(10)
    flood.records(AUTHOR_RATE + 5, ts_step=1)  # all within one minute of record time
    assert_same_in_slices(board(*honest, flood), ("Rejected", "over_quota"), biggest=3)


def test_a_record_under_a_key_that_is_not_its_hash_is_refused_in_every_slicing(honest):
    cheat = Author(11)
    cheat.records(19)
    r = result(cheat.id, "0.9", NOW - 4000)
    cheat.change([("0" * 64, r.encoded)])
    assert_same_in_slices(board(*honest, cheat), ("Rejected", "bad_key"), biggest=3)


def test_a_record_the_policy_refuses_is_refused_in_every_slicing(honest):
    odd = Author(12)
    odd.records(5)
    odd.change([(r.key, r.encoded) for r in [result(odd.id, "0.666", NOW - 3000)]])
    assert_same_in_slices(board(*honest, odd), ("Rejected", "refused_record"), biggest=3)


def test_an_update_missing_its_dependencies_is_deferred_in_every_slicing(honest):
    late = Author(13)
    late.records(10)
    first = late.doc.export_updates({})
    late.records(10, start=10)
    tail = late.doc.export_updates({late.doc.peer: 10})  # only what follows the first ten
    assert_same_in_slices(tail, ("Deferred", "missing_dependencies"), seed=board(*honest), biggest=3)
    assert len(outcome(tail, 3, seed=first)[0]) == 10  # with them, it imports


def test_a_write_waits_for_a_check_in_progress(honest):
    """Pauses that really suspend: a write started meanwhile commits only once the check is done."""
    me = run_sync(Identity.generate())
    blob = board(*honest)
    mine = result(me, "0.1", NOW)

    async def scenario() -> list[str]:
        store = Store(me.peer_id, native, slices=Slices(4, lambda: asyncio.sleep(0)))
        order: list[str] = []

        async def check() -> None:
            await store.receive(DOC, blob, NOW, ("snapshot",))
            order.append("checked")

        async def write() -> None:
            await asyncio.sleep(0)  # the check has started and paused
            await store.write(me.signer, [mine])
            order.append("written")

        await asyncio.gather(check(), write())
        assert store.slices.pauses > 10
        assert len(store.records[DOC]) == 79
        return order

    assert asyncio.run(scenario()) == ["checked", "written"]


def test_a_slice_budget_is_at_least_one_unit():
    with pytest.raises(ValueError):
        Slices(0, _no_pause)


def test_an_author_proven_faulty_while_a_check_pauses_counts_nowhere(honest):
    """mark_faulty may run between two slices (a pull's evidence): the paused check keeps none of its records."""
    me = run_sync(Identity.generate())
    blob = board(*honest)
    culprit = honest[1].id.peer_id
    store = Store(me.peer_id, native)

    async def pause() -> None:  # once the check is appending the culprit's ledger: what mark_faulty does
        peer = loro_peer(culprit)
        if peer in store.ledgers[DOC] and peer not in store.faulty:
            store.faulty.add(peer)
            store.ledgers[DOC].pop(peer)

    store.slices = Slices(3, pause)
    new = run_sync(store.receive(DOC, blob, NOW, ("snapshot",)))
    assert len(new) == 78 - 21 and all(r.author != culprit for r in new)
    assert loro_peer(culprit) not in store.ledgers[DOC]


def test_a_sliced_check_has_at_most_a_few_batches_of_signatures_verifying(honest, monkeypatch):
    """In a tab, answers to thousands of verifications started as their records were checked came in bursts that
    held the loop: a sliced check starts the next batch as earlier ones are answered, VERIFY_AHEAD at most
    unanswered, and comes to the same verdict."""
    verifying: list[Pending] = []
    most = 0

    class Pending:  # answers that say whether they are in, as the tab's do (a task)
        def __init__(self, answers: Any) -> None:
            nonlocal most
            self.answers, self.awaited = answers, False
            verifying.append(self)
            most = max(most, len(verifying))

        def done(self) -> bool:
            return self.awaited

        def __await__(self) -> Any:
            got = yield from self.answers.__await__()
            self.awaited = True
            verifying.remove(self)
            return got

    real = store_module.verify_later
    monkeypatch.setattr(store_module, "verify_later", lambda checks: Pending(real(checks)))
    monkeypatch.setattr(store_module, "VERIFY_AHEAD", 4)  # this board makes 4 batches at the largest budget
    for budget in BUDGETS:
        most = 0
        got, _ = outcome(board(*honest), budget)
        assert len(got) == 78
        assert most == store_module.VERIFY_AHEAD
    liar = Author(9)
    liar.records(23)
    liar.change([forged(liar.id, "0.5", NOW - 5000)])
    liar.records(10, start=30)
    assert_same_in_slices(board(*honest, liar), ("Rejected", "bad_signature"), biggest=3)


def test_a_whole_snapshots_import_and_its_first_read_are_in_different_slices(honest, monkeypatch):
    """Both grow with the blob (a 5,000-record snapshot: 15-45 ms and up to ~20 ms in a tab): in one slice they
    held the loop 53.8 ms. A pause comes between the import and the first read of its changes."""
    from pynode.platform.native_loro import LoroCrdtDoc

    log: list[str] = []

    def logged(name: str) -> Callable[..., Any]:
        real = getattr(LoroCrdtDoc, name)

        def call(self: LoroCrdtDoc, *args: Any) -> Any:
            log.append(name)
            return real(self, *args)

        return call

    for name in ("import_", "changes"):
        monkeypatch.setattr(LoroCrdtDoc, name, logged(name))

    async def pause() -> None:
        log.append("pause")

    blob = board(*honest)
    log.clear()
    store = Store(bytes(32), native, slices=Slices(16, pause))
    assert len(run_sync(store.receive(DOC, blob, NOW, ("snapshot",)))) == 78
    first = log.index("import_")
    assert log[first + 1 : first + 3] == ["pause", "changes"], log[:8]
