"""Hostile state updates: each is refused whole, nothing of it lands, and honest replicas stay converged.

Every test names the defence it pins through the rejection reason, so removing that defence fails it (the
update would either be accepted or caught, later, for a different reason).
"""

from __future__ import annotations

import random
import time

import loro
import pytest

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity
from pynode.platform import native
from pynode.platform.native_loro import LoroCrdtDoc
from pynode.state.authorship import Rejected, change_payload, encode_message, loro_peer, ns
from pynode.state.limits import MAX_GOSSIP_UPDATE
from pynode.state.records import Record, make_record
from pynode.state.store import Deferred, Store
from pynode.state.sync import SyncEngine, run_sync
from pynode.wire import cbor

DOC = "results.ml"


def now_ms() -> int:
    return int(time.time() * 1000)


def result(author: Identity, value: str = "0.5", ts: int | None = None) -> Record:
    body = {
        "domain": "ml",
        "task": "mlp-digits",
        "metric": "val_loss",
        "unit": "nats",
        "direction": "min",
        "value": value,
        "seeds": 3,
    }
    return run_sync(make_record(author.signer, "result", body, ts if ts is not None else now_ms()))


class World:
    """A victim with one record, an honest replica that holds it, and an attacker that knows it too."""

    def __init__(self) -> None:
        self.victim, self.attacker, self.honest = (
            run_sync(Identity.generate()),
            run_sync(Identity.generate()),
            run_sync(Identity.generate()),
        )
        self.victim_store = Store(self.victim.peer_id, native)
        self.victim_record = result(self.victim)
        self.first_update = run_sync(self.victim_store.write(self.victim.signer, [self.victim_record]))[DOC]
        self.store = Store(self.honest.peer_id, native)
        run_sync(self.store.receive(DOC, self.first_update, now_ms()))
        self.before = self.store.version()

    def attacker_doc(self, peer: int | None = None) -> LoroCrdtDoc:
        """A copy of the shared document in the attacker's hands, writing as Loro peer `peer`."""
        doc = native.crdt_doc(peer if peer is not None else loro_peer(self.attacker.peer_id))
        doc.import_(self.first_update)
        return doc

    def signed_put(
        self, doc: LoroCrdtDoc, signer: Identity, root: str, items: list[tuple[str, bytes]]
    ) -> bytes:
        """Commit `items` into root map `root` with a valid change signature by `signer`; the update."""
        before = doc.version()
        counter, lamport, deps = doc.next_change()
        payload = change_payload(DOC, doc.peer, counter, lamport, deps, 0, items)
        sig = signer.signer.sign_now(payload)
        doc.put(root, items, encode_message(signer.peer_id, sig))
        return doc.export_updates(before)

    def refused(self, update: bytes, reason: str, sender: bytes | None = None) -> None:
        with pytest.raises(Rejected) as e:
            run_sync(self.store.receive(DOC, update, now_ms(), ("updates",), only_author=sender))
        assert e.value.reason == reason
        assert self.store.version() == self.before  # nothing of it landed
        assert list(self.store.records[DOC]) == [self.victim_record.key]


@pytest.fixture
def world() -> World:
    return World()


def test_honest_update_is_accepted_and_its_record_readable(world):
    assert world.store.records[DOC][world.victim_record.key].body["value"] == "0.5"


def test_writing_own_record_into_another_authors_namespace_is_refused(world):
    mine = result(world.attacker, "0.001")
    update = world.signed_put(
        world.attacker_doc(), world.attacker, ns(world.victim.peer_id), [(mine.key, mine.encoded)]
    )
    world.refused(update, "outside_namespace")


def test_a_record_signed_by_someone_else_in_own_namespace_is_refused(world):
    stolen = world.victim_record  # replaying the victim's old record as if it were ours
    update = world.signed_put(
        world.attacker_doc(), world.attacker, ns(world.attacker.peer_id), [(stolen.key, stolen.encoded)]
    )
    world.refused(update, "outside_namespace")


def test_a_change_under_another_authors_loro_peer_id_is_refused(world):
    doc = world.attacker_doc(peer=loro_peer(world.victim.peer_id))  # would fork the victim's history
    mine = result(world.attacker, "0.002")
    update = world.signed_put(doc, world.attacker, ns(world.attacker.peer_id), [(mine.key, mine.encoded)])
    world.refused(update, "forged_peer")


def test_a_change_claiming_the_victim_but_signed_by_the_attacker_is_refused(world):
    doc = world.attacker_doc(peer=loro_peer(world.victim.peer_id))
    fake = result(world.victim, "0.003")  # even a genuinely signed record of the victim's
    items = [(fake.key, fake.encoded)]
    counter, lamport, deps = doc.next_change()
    sig = world.attacker.signer.sign_now(change_payload(DOC, doc.peer, counter, lamport, deps, 0, items))
    before = doc.version()
    doc.put(ns(world.victim.peer_id), items, encode_message(world.victim.peer_id, sig))
    world.refused(doc.export_updates(before), "bad_signature")


def test_a_forged_record_signature_is_refused(world):
    forged = result(world.attacker, "0.004")
    bad = Record(forged.kind, forged.author, forged.ts, forged.body, bytes(64))
    encoded = cbor.encode({**bad.unsigned(), "sig": bytes(64)})
    from pynode.state.records import record_key

    update = world.signed_put(
        world.attacker_doc(), world.attacker, ns(world.attacker.peer_id), [(record_key(encoded), encoded)]
    )
    world.refused(update, "bad_signature")


def test_deleting_another_authors_record_is_refused(world):
    doc = world.attacker_doc()
    raw: loro.LoroDoc = doc._doc
    before = doc.version()
    raw.get_map(ns(world.victim.peer_id)).delete(world.victim_record.key)
    raw.set_next_commit_message(encode_message(world.attacker.peer_id, bytes(64)))
    raw.commit()
    world.refused(doc.export_updates(before), "delete")


def test_an_unsigned_change_is_refused(world):
    doc = world.attacker_doc()
    mine = result(world.attacker, "0.005")
    before = doc.version()
    doc.put(ns(world.attacker.peer_id), [(mine.key, mine.encoded)], "")
    world.refused(doc.export_updates(before), "unsigned_change")


def test_a_key_that_is_not_the_hash_of_its_value_is_refused(world):
    mine = result(world.attacker, "0.006")
    update = world.signed_put(
        world.attacker_doc(), world.attacker, ns(world.attacker.peer_id), [("0" * 64, mine.encoded)]
    )
    world.refused(update, "bad_key")


def test_a_record_from_the_future_is_refused(world):
    mine = result(world.attacker, "0.007", ts=now_ms() + 3_600_000)
    update = world.signed_put(
        world.attacker_doc(), world.attacker, ns(world.attacker.peer_id), [(mine.key, mine.encoded)]
    )
    world.refused(update, "from_future")


def test_a_record_in_the_wrong_document_is_refused(world):
    profile = run_sync(make_record(world.attacker.signer, "profile", {"name": "x", "caps": []}, now_ms()))
    update = world.signed_put(
        world.attacker_doc(), world.attacker, ns(world.attacker.peer_id), [(profile.key, profile.encoded)]
    )
    world.refused(update, "wrong_document")


def test_a_list_value_posing_as_bytes_is_refused(world):
    # Loro's JSON prints binary values and lists of small ints alike; what the CRDT stored must be bytes
    mine = result(world.attacker, "0.008")
    doc = world.attacker_doc()
    counter, lamport, deps = doc.next_change()
    sig = world.attacker.signer.sign_now(
        change_payload(DOC, doc.peer, counter, lamport, deps, 0, [(mine.key, mine.encoded)])
    )
    before = doc.version()
    raw: loro.LoroDoc = doc._doc
    raw.get_map(ns(world.attacker.peer_id)).insert(mine.key, list(mine.encoded))
    raw.set_next_commit_message(encode_message(world.attacker.peer_id, sig))
    raw.commit()
    world.refused(doc.export_updates(before), "bad_value")


def test_gossip_may_only_carry_the_publishers_own_changes(world):
    # the attacker re-publishes the victim's genuine old update under its own envelope
    fresh = Store(run_sync(Identity.generate()).peer_id, native)
    with pytest.raises(Rejected) as e:
        run_sync(
            fresh.receive(DOC, world.first_update, now_ms(), ("updates",), only_author=world.attacker.peer_id)
        )
    assert e.value.reason == "not_senders_changes"
    assert fresh.version()[DOC] == {}


def test_replaying_an_update_already_held_is_ignored_not_forwarded(world):
    engine = SyncEngine(world.store, random.Random(1))
    data = cbor.encode({"doc": DOC, "update": world.first_update})
    assert run_sync(engine.on_gossip(world.victim.peer_id, data, now_ms())) is ValidationResult.IGNORE
    assert world.store.version() == world.before
    with pytest.raises(Deferred, match="nothing_new"):  # known before any fork or signature check
        run_sync(world.store.receive(DOC, world.first_update, now_ms()))


def test_replaying_an_old_profile_does_not_roll_the_view_back():
    from pynode.state.views import latest_profiles

    me = run_sync(Identity.generate())
    store = Store(me.peer_id, native)
    old = run_sync(make_record(me.signer, "profile", {"name": "old", "caps": []}, 1000))
    new = run_sync(make_record(me.signer, "profile", {"name": "new", "caps": []}, 2000))
    run_sync(store.write(me.signer, [new]))
    run_sync(store.write(me.signer, [old]))  # a replayed older profile arrives later
    assert latest_profiles(store.all_records("identities"))[me.text]["name"] == "new"


def test_a_huge_update_is_refused_before_it_is_parsed(world):
    engine = SyncEngine(world.store, random.Random(1))
    huge = b"\x00" * (MAX_GOSSIP_UPDATE + 2048)
    assert run_sync(engine.on_gossip(world.attacker.peer_id, huge, now_ms())) is ValidationResult.REJECT
    assert engine.rejections["oversized"] == 1


@pytest.mark.parametrize("blob", [b"", b"loro", b"\xff" * 100, b"loro" + bytes(200)])
def test_a_malformed_update_is_refused(world, blob):
    world.refused(blob, "malformed_update")


def test_a_malformed_gossip_message_is_rejected(world):
    engine = SyncEngine(world.store, random.Random(1))
    for data in (b"\xa0", cbor.encode({"doc": "nope", "update": b""}), cbor.encode([1, 2])):
        assert run_sync(engine.on_gossip(world.attacker.peer_id, data, now_ms())) is ValidationResult.REJECT
    assert engine.rejections["malformed_update"] == 3


def test_an_update_with_missing_dependencies_is_deferred_not_imported(world):
    second = result(world.victim, "0.4")
    later = run_sync(world.victim_store.write(world.victim.signer, [second]))[DOC]
    fresh = Store(run_sync(Identity.generate()).peer_id, native)
    with pytest.raises(Deferred):
        run_sync(fresh.receive(DOC, later, now_ms()))
    assert fresh.version()[DOC] == {}  # pending changes would otherwise be applied later, unchecked
