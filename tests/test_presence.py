"""Pulse rounds: the compute task and its commitment, the messages, certificate records, and whole rounds on
the simulation kernel with real signatures and ECVRF proofs (pynode/sim/presence.py)."""

from __future__ import annotations

import os

import pytest

from pynode.identity import Identity
from pynode.presence import messages, task
from pynode.presence.chain import GENESIS_HEAD, seed_for
from pynode.presence.params import PICKED_ROWS, TASK_ROWS, Timing
from pynode.sim.presence_run import PresenceRun
from pynode.state.records import decode_record, make_record
from pynode.state.sync import run_sync
from pynode.wire.errors import WireError

TIMING = Timing(interval_ms=30_000)


def test_honest_rows_pass_and_every_lie_is_named():
    seed, me, other = os.urandom(32), os.urandom(32), os.urandom(32)
    rows = task.compute(seed, me)
    levels = task.tree(rows)
    root = levels[-1][0]
    picks = task.picks(os.urandom(64), me)
    assert len(set(picks)) == PICKED_ROWS and all(0 <= i < TASK_ROWS for i in picks)
    paths = [task.path(levels, i) for i in picks]
    assert task.check_reveal(seed, me, root, picks, [rows[i] for i in picks], paths) == ""
    # rows that are not the committed ones
    swapped = [rows[(i + 1) % TASK_ROWS] for i in picks]
    assert task.check_reveal(seed, me, root, picks, swapped, paths) == "wrong_rows"
    # committed garbage, revealed consistently: the recomputation catches it
    garbage = [bytes(task.ROW_BYTES)] * TASK_ROWS
    glevels = task.tree(garbage)
    gpaths = [task.path(glevels, i) for i in picks]
    assert (
        task.check_reveal(seed, me, glevels[-1][0], picks, [garbage[i] for i in picks], gpaths)
        == "wrong_answer"
    )
    # another node's answers, committed and revealed as its own
    theirs = task.compute(seed, other)
    tlevels = task.tree(theirs)
    tpaths = [task.path(tlevels, i) for i in picks]
    assert (
        task.check_reveal(seed, me, tlevels[-1][0], picks, [theirs[i] for i in picks], tpaths)
        == "wrong_answer"
    )


def test_messages_round_trip_and_refuse_what_they_do_not_expect():
    pulse = messages.Pulse(7, bytes(32), bytes(80), bytes(16), bytes(32))
    assert messages.decode(messages.encode(pulse)) == pulse
    commits = ((b"\x02" * 32, bytes(32)), (b"\x01" * 32, bytes(32)))
    unsorted = messages.Challenge(7, bytes(32), bytes(80), bytes(80), commits)
    with pytest.raises(WireError):
        messages.decode(messages.encode(unsorted))
    with pytest.raises(WireError):
        messages.decode(messages.encode(pulse)[:-1])
    with pytest.raises(WireError):
        messages.decode(b"\xa1" + b"\x61t" + b"\x65pulsx")  # an unknown type
    reveal = messages.Reveal(7, bytes(32), (bytes(task.ROW_BYTES),), ((bytes(32),) * (task.DEPTH - 1),))
    with pytest.raises(WireError):  # a Merkle path one hash short
        messages.decode(messages.encode(reveal))


def _body(n: int) -> dict:
    entries = sorted([[os.urandom(32), bytes(80), bytes(16), bytes(32)] for _ in range(n)])
    return {"round": 3, "seed": bytes(32), "prev": bytes(32), "interval": 90_000, "challenge": bytes(80),
            "participants": entries, "strikes": [], "cosigs": []}  # fmt: skip


def test_certificate_records_hold_a_thousand_participants_and_refuse_bad_shapes():
    signer = run_sync(Identity.from_seed(bytes([5]) * 32)).signer
    big = run_sync(make_record(signer, "certificate", _body(1000), 1))
    assert len(big.encoded) > 64 * 1024  # larger than any other kind may be
    assert decode_record(big.encoded).body["round"] == 3
    unsorted = _body(3)
    unsorted["participants"].reverse()
    for bad in (
        unsorted,
        {**_body(2), "participants": []},
        {**_body(2), "cosigs": [[bytes(32), 1, 2, b"x"]]},
    ):
        with pytest.raises(WireError):
            run_sync(make_record(signer, "certificate", bad, 1))
    with pytest.raises(WireError):  # no other kind may be that large
        run_sync(make_record(signer, "paper", {"title": "t", "domain": "ml", "task": "t", "results": [],
                                               "markdown": "x" * 70_000}, 1))  # fmt: skip


def _run(nodes: int, rounds: int, **build) -> PresenceRun:
    run = PresenceRun(nodes, seed=3, timing=TIMING)
    run.build(**build)
    return run


def test_every_round_is_certified_with_everyone_and_the_chain_links():
    run = _run(16, 3)
    run.run(3)
    chain = run.sim.ledger(full=True).chain
    assert [c.round for c in chain] == [run.first + k for k in range(3)]
    everyone = {i.peer_id for i in run.identities}
    head = GENESIS_HEAD
    for cert in chain:
        assert set(cert.entries) == everyone
        assert cert.prev == head.key and cert.seed == seed_for(head.key, cert.round)
        assert len(cert.cosigs) >= 5  # a quorum of the committee of 7
        head = cert.head()
    assert {n.core.head for n in run.live()} == {head}  # every node holds the same chain


def test_a_leader_that_crashes_is_replaced_by_its_backup():
    run = _run(16, 3)
    run.run(3, crash_rounds=(1,))
    chain = run.sim.ledger(full=True).chain
    crashed = run.crashed[run.first + 1]
    assert len(chain) == 3
    mid = chain[1]
    assert mid.leader != crashed and crashed not in mid.entries
    assert crashed in chain[0].entries
    late = run.latencies(run.sim.ledger(), [mid.round])
    early = run.latencies(run.sim.ledger(), [chain[0].round])
    assert min(late) > max(early)  # the backup's turn comes one takeover later
