"""The replicated state's core: records, views, sync between engines, convergence in the simulator."""

from __future__ import annotations

import random
import time

import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.sim.state import run_state_simulation
from pynode.state import sync as sync_mod
from pynode.state.records import DOCS, make_record
from pynode.state.store import Store
from pynode.state.sync import Ask, SyncEngine, run_sync
from pynode.state.views import BoardId, boards_markdown, leaderboards, points_totals
from pynode.wire.errors import WireError


def now_ms() -> int:
    return int(time.time() * 1000)


def result(who: Identity, value: str, metric: str = "val_loss", direction: str = "min", ts: int = 1, **kw):
    body = {
        "domain": "ml",
        "task": "mlp-digits",
        "metric": metric,
        "unit": kw.pop("unit", "nats"),
        "direction": direction,
        "value": value,
        "seeds": 3,
        **kw,
    }
    return run_sync(make_record(who.signer, "result", body, ts))


# ---- records ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {
            "domain": "ml",
            "task": "../etc",
            "metric": "m",
            "unit": "u",
            "direction": "min",
            "value": "1",
            "seeds": 1,
        },
        {
            "domain": "ml",
            "task": "t",
            "metric": "m",
            "unit": "u",
            "direction": "up",
            "value": "1",
            "seeds": 1,
        },
        {
            "domain": "ml",
            "task": "t",
            "metric": "m",
            "unit": "u",
            "direction": "min",
            "value": "1e9",
            "seeds": 1,
        },
        {
            "domain": "xx",
            "task": "t",
            "metric": "m",
            "unit": "u",
            "direction": "min",
            "value": "1",
            "seeds": 1,
        },
        {
            "domain": "ml",
            "task": "t",
            "metric": "m",
            "unit": "u",
            "direction": "min",
            "value": "1",
            "seeds": 1,
            "x": 1,
        },
    ],
)
def test_result_bodies_outside_the_schema_are_refused(body):
    with pytest.raises(WireError):
        run_sync(make_record(run_sync(Identity.generate()).signer, "result", body, 1))


def test_a_record_key_is_the_hash_of_its_signed_bytes():
    a = run_sync(Identity.generate())
    r1, r2 = result(a, "1.0"), result(a, "1.0")
    assert r1.key == r2.key and r1.encoded == r2.encoded  # Ed25519 and canonical CBOR are deterministic
    assert result(a, "1.1").key != r1.key


# ---- views ------------------------------------------------------------------------------------------


def test_leaderboard_never_ranks_different_metrics_units_or_directions_together():
    a, b = run_sync(Identity.generate()), run_sync(Identity.generate())
    records = [
        result(a, "0.50"),
        result(b, "0.40", metric="val_bpb", unit="bits"),
        result(b, "0.30", unit="bits"),
        result(a, "0.90", metric="accuracy", direction="max", unit="ratio"),
    ]
    boards = leaderboards(records)
    assert {(k.metric, k.unit, k.direction) for k in boards} == {
        ("val_loss", "nats", "min"),
        ("val_bpb", "bits", "min"),
        ("val_loss", "bits", "min"),
        ("accuracy", "ratio", "max"),
    }
    assert all(len(rows) == 1 for rows in boards.values())


def test_leaderboard_ranks_by_direction_keeps_each_authors_best_and_breaks_ties_by_time_then_key():
    a, b, c = run_sync(Identity.generate()), run_sync(Identity.generate()), run_sync(Identity.generate())
    records = [result(a, "0.5", ts=5), result(a, "0.3", ts=9), result(b, "0.3", ts=7), result(c, "0.9", ts=1)]
    rows = leaderboards(records)[BoardId("ml", "mlp-digits", "val_loss", "nats", "min")]
    assert [(r.author, r.value) for r in rows] == [(b.text, "0.3"), (a.text, "0.3"), (c.text, "0.9")]
    maxed = [result(a, "0.5", direction="max"), result(b, "0.7", direction="max")]
    assert [r.author for r in next(iter(leaderboards(maxed).values()))] == [b.text, a.text]


def test_leaderboard_is_the_same_whatever_the_order_of_the_records():
    people = [run_sync(Identity.generate()) for _ in range(6)]
    records = [result(p, f"0.{i % 3}", ts=i % 2) for i, p in enumerate(people)]
    boards = leaderboards(records)
    for seed in range(5):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        assert leaderboards(shuffled) == boards
    assert "| 1 |" in boards_markdown(boards, "ml")


def test_points_totals_count_each_issuers_round_once():
    issuer, peer = run_sync(Identity.generate()), run_sync(Identity.generate())
    r1 = run_sync(make_record(issuer.signer, "points", {"round": 1, "awards": [[peer.peer_id, 5]]}, 1))
    r1b = run_sync(make_record(issuer.signer, "points", {"round": 1, "awards": [[peer.peer_id, 500]]}, 2))
    r2 = run_sync(make_record(issuer.signer, "points", {"round": 2, "awards": [[peer.peer_id, 7]]}, 3))
    totals = points_totals([r1, r1b, r2])
    assert totals[peer.text] == 7 + min((r1, r1b), key=lambda r: r.key).body["awards"][0][1]


# ---- sync between engines ---------------------------------------------------------------------------


def pull(asker: SyncEngine, server: SyncEngine, peer_a: bytes, peer_s: bytes, now: float = 100.0) -> int:
    """Drive one anti-entropy exchange (with any chunk follow-ups) to the end; returns round trips."""
    asks = asker.tick(now, [peer_s])
    trips = 0
    while asks:
        (ask,) = asks
        assert isinstance(ask, Ask) and ask.peer == peer_s
        answer = server.on_request(peer_a, ask.data, now)
        asks = run_sync(asker.on_response(peer_s, answer, now, now_ms()))
        trips += 1
    return trips


def test_cold_start_takes_a_snapshot_from_one_peer_then_catches_up():
    a, b = run_sync(Identity.generate()), run_sync(Identity.generate())
    sa, sb = Store(a.peer_id, native), Store(b.peer_id, native)
    ea, eb = SyncEngine(sa, random.Random(1)), SyncEngine(sb, random.Random(2))
    run_sync(ea.write(a.signer, [result(a, f"0.{i}", ts=i) for i in range(1, 20)]))
    assert eb.status()["sync"] == "cold"
    pull(eb, ea, b.peer_id, a.peer_id)
    assert sb.version() == sa.version() and eb.status()["records"] == 19
    assert eb.status()["sync"] == "syncing"  # the last pull brought records
    run_sync(ea.write(a.signer, [result(a, "0.01", ts=99)]))
    snapshot_bytes = eb.bytes_in
    pull(eb, ea, b.peer_id, a.peer_id, now=200.0)
    assert sb.version() == sa.version() and eb.status()["records"] == 20
    assert eb.bytes_in - snapshot_bytes < snapshot_bytes / 5  # catch-up sends only what is missing
    pull(eb, ea, b.peer_id, a.peer_id, now=300.0)
    assert eb.status()["sync"] == "synced"


def test_a_document_bigger_than_one_response_arrives_in_chunks(monkeypatch):
    monkeypatch.setattr(sync_mod, "RESPONSE_BUDGET", 4096)
    monkeypatch.setattr(sync_mod, "CHUNK_BYTES", 2048)
    a, b = run_sync(Identity.generate()), run_sync(Identity.generate())
    sa, sb = Store(a.peer_id, native), Store(b.peer_id, native)
    ea, eb = SyncEngine(sa, random.Random(1)), SyncEngine(sb, random.Random(2))
    run_sync(ea.write(a.signer, [result(a, f"0.{i}", ts=i) for i in range(1, 60)]))
    trips = pull(eb, ea, b.peer_id, a.peer_id)
    assert trips > 3
    assert sb.version()["results.ml"] == sa.version()["results.ml"]


def test_a_tampered_chunk_is_rejected_and_nothing_is_imported(monkeypatch):
    monkeypatch.setattr(sync_mod, "RESPONSE_BUDGET", 4096)
    monkeypatch.setattr(sync_mod, "CHUNK_BYTES", 2048)
    from pynode.state.authorship import Rejected
    from pynode.wire import cbor

    a, b = run_sync(Identity.generate()), run_sync(Identity.generate())
    sa, sb = Store(a.peer_id, native), Store(b.peer_id, native)
    ea, eb = SyncEngine(sa, random.Random(1)), SyncEngine(sb, random.Random(2))
    run_sync(ea.write(a.signer, [result(a, f"0.{i}", ts=i) for i in range(1, 60)]))
    (ask,) = eb.tick(0.0, [a.peer_id])
    (ask,) = run_sync(eb.on_response(a.peer_id, ea.on_request(b.peer_id, ask.data, 0.0), 0.0, now_ms()))
    answer = cbor.decode(ea.on_request(b.peer_id, ask.data, 0.0))
    answer["chunk"]["offset"] = 7  # does not continue the download
    with pytest.raises(Rejected, match="bad_chunk"):
        run_sync(eb.on_response(a.peer_id, cbor.encode(answer), 0.0, now_ms()))
    assert all(not v for v in sb.version().values())


def test_a_malformed_pull_request_raises_wire_error():
    s = SyncEngine(Store(run_sync(Identity.generate()).peer_id, native), random.Random(1))
    from pynode.wire import cbor

    for bad in (
        b"\x00",
        cbor.encode({"have": {"nope": []}, "snapshot": True}),
        cbor.encode({"have": {}, "snapshot": 1}),
    ):
        with pytest.raises(WireError):
            s.on_request(b"x" * 32, bad, 0.0)


def test_every_document_has_a_kind_and_fits_loro_root_names():
    assert len(DOCS) == 14 and all("/" not in d for d in DOCS)


# ---- the simulator: real Loro documents, simulated transport ----------------------------------------


def test_fifty_replicas_converge_under_loss_and_churn_to_one_version_and_one_board():
    out = run_state_simulation(nodes=50, records=60, loss=0.1, churn=0.2, seed=7, write_s=15.0)
    sim = out.pop("sim")
    assert out["converged"] and out["same_view"], out
    assert out["records_everywhere"] == out["records"] == 60
    live = sim.live()
    assert len(live) == 50 and any(n.joined_at > 5.0 for n in live)  # churned-in replicas cold-started
    assert all(n.engine.store.counts()["results.ml"] == 60 for n in live)
