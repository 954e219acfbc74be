"""The adversaries of pulse rounds and points, each defeated — and each run once more with its defence removed,
to show that defence is what stops it. Whole rounds on the simulation kernel with real signatures and proofs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pynode.identity.vrf import proof_to_hash
from pynode.presence import cosigner, ledger, membership, task
from pynode.presence.chain import GENESIS, pulse_alpha, seed_for
from pynode.presence.core import PulseCore
from pynode.presence.params import Timing
from pynode.review import sortition
from pynode.sim import presence_adversaries as adv
from pynode.sim.presence import EPOCH_MS
from pynode.sim.presence_run import PresenceRun
from pynode.state.records import make_record
from pynode.state.sync import run_sync
from tests import review_world as world

DEFENDED = pytest.mark.parametrize("defended", [True, False], ids=["defended", "defence-removed"])
TIMING = Timing(interval_ms=30_000)
N = 12


def _network(rounds: int = 2, **build) -> PresenceRun:
    run = PresenceRun(N, seed=7, timing=TIMING)
    run.build(**build)
    return run


def _first_leader(run: PresenceRun) -> int:
    """Which node's claim is lowest in the first round (its seed follows from genesis, known in advance)."""
    seed = seed_for(GENESIS, run.first)
    claims = [proof_to_hash(i.vrf.prove(pulse_alpha(seed, run.first))) for i in run.identities]
    return min(range(N), key=lambda k: claims[k])


def _core_of(run: PresenceRun, index: int) -> PulseCore:
    return run.sim.by_peer[run.identities[index].peer_id].core


def _cheat(run: PresenceRun, index: int, how) -> None:
    """Make node `index` cheat from the moment it joins."""
    run.tweaks[run.identities[index].peer_id] = how


def _struck(run: PresenceRun) -> set[bytes]:
    view = run.sim.ledger(full=True)
    return {p for p, s in view.standings.items() if s.strikes}


def _participants(run: PresenceRun) -> list[set[bytes]]:
    return [set(c.entries) for c in run.sim.ledger(full=True).chain]


# ---- the compute challenge and the lottery --------------------------------------------------------------


@DEFENDED
def test_a_node_copying_another_nodes_answers_is_struck(defended, monkeypatch):
    if not defended:  # every node gets the same task: nothing ties the answers to who computed them
        monkeypatch.setattr(task, "task_key", lambda seed, peer: seed)
    run = _network()
    copier, victim = run.identities[1].peer_id, run.identities[2].peer_id
    _cheat(run, 1, lambda core: adv.copy_answers(core, victim))
    run.run(2)
    in_every = all(copier in p for p in _participants(run))
    assert (copier in _struck(run), in_every) == ((True, False) if defended else (False, True))


@DEFENDED
def test_rows_that_were_not_committed_are_struck(defended, monkeypatch):
    if not defended:  # the leader recomputes the rows but does not check them against the commitment
        monkeypatch.setattr(task, "verify_path", lambda *a: True)
    run = _network()
    cheat = run.identities[1].peer_id
    _cheat(run, 1, adv.reveal_uncommitted)
    run.run(2)
    assert (cheat in _struck(run)) == defended
    assert all(cheat in p for p in _participants(run)) == (not defended)


@DEFENDED
def test_committed_garbage_is_struck_when_a_garbage_row_is_picked(defended, monkeypatch):
    if not defended:  # the leader checks the Merkle paths but never recomputes a row
        real = task.check_reveal

        def no_recompute(seed, peer, root, picks, rows, paths):
            verdict = real(seed, peer, root, picks, rows, paths)
            return "" if verdict == "wrong_answer" else verdict

        monkeypatch.setattr(task, "check_reveal", no_recompute)
    run = _network(rounds=3)
    cheat = run.identities[1].peer_id
    _cheat(run, 1, adv.lazy)
    run.run(3)  # 4 of 16 rows picked, 8 of them garbage: a round misses it with p = 70/1820 = 1/26
    assert (cheat in _struck(run)) == defended


@DEFENDED
def test_a_borrowed_or_replayed_vrf_proof_is_struck(defended, monkeypatch):
    run = _network()
    if not defended:  # a verifier that believes any well-formed proof, whoever it was made by and for

        def believe(public_key, proof, alpha):
            return proof_to_hash(proof)

        monkeypatch.setattr(run.sim.shared, "verify_vrf", believe)
    thief = run.identities[1].peer_id
    victim = run.identities[_first_leader(run)]
    _cheat(run, 1, lambda core: adv.forge_proof(core, victim.vrf))
    _cheat(run, 3, adv.forge_proof)  # its own proof, replayed from the round before, with the lowest claim
    replayer = run.identities[3].peer_id
    run.run(2)
    struck = _struck(run)
    if defended:
        assert {thief, replayer} <= struck
        assert not any(thief in p or replayer in p for p in _participants(run))
    else:
        assert thief not in struck and all(thief in p for p in _participants(run))


# ---- leaders -------------------------------------------------------------------------------------------------


@DEFENDED
@pytest.mark.parametrize("lie", ["drop", "add"])
def test_a_leader_that_drops_or_adds_participants_is_refused(defended, lie, monkeypatch):
    if not defended:  # co-signers that sign whatever they are shown
        monkeypatch.setattr(cosigner, "judge", lambda *a: "")
    run = _network()
    liar = _first_leader(run)
    absent = next(i for i in range(N) if i != liar)
    if lie == "drop":
        _cheat(run, liar, lambda core: adv.lying_leader(core, drop=2))
    else:  # a node that pulses, then goes before anyone challenges: the liar names it anyway
        _cheat(run, liar, lambda core: adv.lying_leader(core, drop=0, add=run.identities[absent].peer_id))
        gone = run.identities[absent].peer_id
        at = run.start_v(run.first) + (TIMING.commit_ms - 300) / 1000
        run.sim.kernel.at(at, lambda: run.sim.crash(run.sim.by_peer[gone]))
    run.run(1)
    first = run.sim.ledger(full=True).chain[0]
    liar_id = run.identities[liar].peer_id
    assert (first.leader != liar_id) == defended
    if lie == "drop":
        assert (len(first.entries) == N) == defended
    else:
        assert (run.identities[absent].peer_id in first.entries) == (not defended)


@DEFENDED
def test_two_certificates_for_one_round_count_once(defended, monkeypatch):
    if not defended:  # every valid certificate counts, not one per round

        def every(certs):
            return sorted(certs, key=lambda c: c.round)

        monkeypatch.setattr(ledger, "canonical", every)
    run = _network()
    run.run(2)
    once = run.sim.ledger(full=True)
    cert = once.chain[0]
    leader = next(i for i in run.identities if i.peer_id == cert.leader)
    # the leader signs the same certificate body again (another timestamp): a second valid certificate
    again = run_sync(make_record(leader.signer, "certificate", cert.record.body, cert.record.ts + 1))
    run.sim.certificates[bytes.fromhex(again.key)] = run.sim.shared.certificate(again.encoded)
    twice = run.sim.ledger(full=True)
    other = next(p for p in cert.entries if p != cert.leader)
    if defended:
        assert twice.standings[other].milli == once.standings[other].milli
        assert twice.standings[cert.leader].strikes == 1  # two certificates for one round: equivocation
    else:
        assert twice.standings[other].milli > once.standings[other].milli


# ---- clocks --------------------------------------------------------------------------------------------------


@DEFENDED
def test_a_clock_skewed_leader_neither_takes_part_nor_holds_the_round_up(defended, monkeypatch):
    if not defended:  # no clock checks: pulses and challenges are taken whenever they come
        monkeypatch.setattr(PulseCore, "in_commit_window", lambda self, rs, now: True)
        monkeypatch.setattr(PulseCore, "turn_has_come", lambda self, rs, rank, now: rank <= 2)
    run = PresenceRun(N, seed=7, timing=TIMING)
    skewed = _first_leader(run)
    run.build(skews={skewed: 3_000})  # its clock runs 3 s ahead: it pulses and challenges 3 s early
    run.run(1)
    chain = run.sim.ledger(full=True).chain
    assert len(chain) == 1
    first, skewed_id = chain[0], run.identities[skewed].peer_id
    honest = {i.peer_id for i in run.identities} - {skewed_id}
    assert honest <= set(first.entries)
    on_time = (
        TIMING.turn_of(1) / 1000
    )  # the first backup's turn: a round the skewed node held up ends after it
    latency = max(run.latencies(run.sim.ledger(), [first.round]))
    assert (skewed_id in first.entries, latency < on_time) == ((False, True) if defended else (True, False))


# ---- points ----------------------------------------------------------------------------------------------


@DEFENDED
def test_ten_sybils_behind_one_address_earn_less_than_three_nodes(defended, monkeypatch):
    if not defended:  # every node its own group: no operator or origin grouping

        def alone(self, nodes, at_ms):
            return {n: n for n in nodes}

        monkeypatch.setattr(membership.Groups, "at", alone)
    run = PresenceRun(16, seed=7, timing=TIMING)
    run.build(sybils=10)
    run.run(3)
    ratio = run.measure(3)["sybil"]["points_vs_one"]
    assert (ratio <= 3.0) == defended
    assert ratio == pytest.approx(2.929, abs=0.01) if defended else ratio == pytest.approx(10.0)


def _established(author, validators):
    """A result reproduced by three drawn validators an hour before the sim's rounds (review_world)."""
    t = EPOCH_MS - 3_600_000
    profiles = [world.profile(v, ts=t - 120_000) for v in validators]
    res = world.result(author, [0.40, 0.38, 0.39], t)
    epoch = sortition.epoch_of(res.ts)
    reviews = [world.review(v, res, epoch, ts=res.ts + 15_000) for v in validators]
    return profiles, [res], reviews


@DEFENDED
def test_capability_bonuses_need_work_others_verified(defended):
    run = _network()
    run.run(2)
    researcher = run.identities[4]  # claims every capability; only research is verified (a reproduced result)
    claimer = run.identities[5]  # claims every capability, served nothing
    validators = [world.identity() for _ in range(3)]
    profiles, results, reviews = _established(researcher, validators)
    everything = {"name": "x", "caps": sorted(ledger.BONUSES)}
    for who in (researcher, claimer):
        profiles.append(run_sync(make_record(who.signer, "profile", everything, EPOCH_MS - 7_200_000)))

    def declared(e, peer, start_ms):  # the defence removed: a profile's claims are believed
        caps = {c for r in profiles if r.author == peer for c in r.body["caps"]}
        return sum((ledger.BONUSES[c] for c in caps), Decimal(0))

    evidence = run_sync(
        ledger.gather(
            run.sim.cert_records(),
            run.sim.profiles + profiles,
            run.sim.shared.verify_sig,
            run.sim.shared.verify_vrf,
            run.sim.relays,
            results,
            reviews,
        )  # fmt: skip
    )
    view = ledger.compute(evidence, ledger.verified_bonus if defended else declared)
    base = view.standings[run.identities[6].peer_id].milli
    assert view.standings[researcher.peer_id].milli == pytest.approx(
        base * (1.12 if defended else 1.58), rel=1e-3
    )
    assert view.standings[claimer.peer_id].milli == pytest.approx(
        base * (1.0 if defended else 1.58), rel=1e-3
    )
