"""The adversaries of peer review, each defeated — and each run once more with its defence removed, where the
attack must then succeed (so every test here can fail).

Results on the Cranfield task are re-executed for real where a verdict depends on it (fabricated metric,
copied result, withheld artifacts), ml claims' checkpoints are real digits-mlp runs; elsewhere the reviews'
verdicts are given and the view is what is tested.
"""

from __future__ import annotations

import dataclasses

import pytest

from pynode.identity import vrf
from pynode.platform import native
from pynode.research.config import parse
from pynode.research.search import DOMAIN as SEARCH
from pynode.review import breakthroughs, checkpoints, rubric, sortition
from pynode.review.breakthroughs import analyse
from pynode.review.params import EPOCH_MS, SETTLE_MS
from pynode.review.policy import check_review
from pynode.review.reexecute import NOT_REPRODUCED, REPRODUCED, UNAVAILABLE, Artifacts, reexecute
from pynode.review.reviewer import Assignment, Reviewer, review_body
from pynode.review.rubric import assess, context_for
from pynode.state.store import Store
from tests.review_world import (
    E0,
    T0,
    TASK,
    Network,
    config,
    identity,
    ml_result,
    ml_runs,
    profile,
    record,
    result,
    review,
)

LATER = T0 + 20 * EPOCH_MS  # every window of these scenarios has closed
DEFENDED = pytest.mark.parametrize("defended", [True, False], ids=["defended", "defence-removed"])


def _evaluate(cfg: str) -> list[float]:
    c = SEARCH.validate(TASK.id, parse(cfg))
    return [SEARCH.evaluate(TASK.id, c, seed).value for seed in range(3)]


@pytest.fixture(scope="module")
def real():
    """Real per-seed NDCG@10: the baseline, and RM3 feedback (a genuine, significant improvement on it)."""
    return {"base": _evaluate(config()), "rm3": _evaluate(config(fb_docs=10))}


def _first_draw(who, target, n):
    return next((e for e in sortition.window(target) if sortition.draw(who.vrf, target.key, e, n)), None)


def _established(base, validators, n):
    """Honest reviews that establish the baseline (reproduced, by whoever was drawn for it)."""
    out = []
    for v in validators:
        e = _first_draw(v, base, n)
        if e is not None:
            out.append(review(v, base, e, score=5))
    return out


def _honest(who, target, epoch, results, papers=(), artifacts=None):
    """What an honest reviewer publishes: a real re-execution scored on the rubric."""
    ticket = sortition.Ticket(target.key, epoch, who.vrf.prove(sortition.alpha(target.key, epoch)), b"")
    rex = reexecute(target, artifacts)
    body = review_body(
        Assignment(target, ticket), rex, assess(target, rex, context_for(target, results, papers))
    )
    return record(who, "review", body, max(sortition.epoch_start(epoch), target.ts) + SETTLE_MS + 1000)


def _standing(results, reviews, profiles, **kw):
    return analyse(results, reviews, profiles, now_ms=LATER, **kw).standings


# ---- a fabricated metric --------------------------------------------------------------------------------------


@DEFENDED
def test_a_fabricated_metric_is_not_reproduced(real, defended, monkeypatch):
    if not defended:  # a reviewer that accepts any re-measured value: no tolerance
        monkeypatch.setitem(SEARCH.tasks, TASK.id, dataclasses.replace(TASK, tolerance=1.0))
    honest = [identity() for _ in range(3)]
    colluder, faker, author = identity(), identity(), identity()
    base = result(author, real["base"], T0)
    fake = result(faker, [v + 0.05 for v in real["base"]], T0 + 1000, cfg=config(k1=1.3), parent=base)
    reviews = [review(v, base, E0, score=5) for v in honest]
    reviews += [_honest(v, fake, E0, [base, fake]) for v in honest] + [review(colluder, fake, E0)]
    s = _standing([base, fake], reviews, [profile(v) for v in (*honest, colluder)])[fake.key]
    verdicts = [r.verdict for r in s.counted if r.reviewer != colluder.peer_id]
    caught = verdicts == [NOT_REPRODUCED] * 3 and not s.breakthrough
    assert caught == defended
    if defended:
        measured = [r.record.body["measured"] for r in s.counted if r.verdict == NOT_REPRODUCED]
        assert all(float(fake.body["value"]) - float(m) > 0.04 for m in measured)  # what it really scores


# ---- a copied result under a new author -----------------------------------------------------------------------


@DEFENDED
def test_a_copied_result_is_flagged_and_earns_nothing(real, defended, monkeypatch):
    if not defended:  # no comparison of config and samples with earlier results
        monkeypatch.setattr(rubric, "find_copy", lambda result, earlier: None)
        monkeypatch.setattr(breakthroughs, "copy_of", lambda result, first_seen: None)
    honest = [identity() for _ in range(4)]
    author, thief = identity(), identity()
    base = result(author, real["base"], T0)
    original = result(author, real["rm3"], T0 + EPOCH_MS, cfg=config(fb_docs=10), parent=base)
    copy = result(thief, real["rm3"], T0 + EPOCH_MS + 2000, cfg=config(fb_docs=10), parent=base)
    results = [base, original, copy]
    reviews = [review(v, base, E0, score=5) for v in honest]  # the original is still under review
    reviews += [_honest(v, copy, E0 + 1, results) for v in honest]
    s = _standing(results, reviews, [profile(v) for v in honest])[copy.key]
    flagged = {(r.record.body.get("copy_of"), r.score) for r in s.counted} == {(original.key, 1)}
    caught = flagged and s.copy_of == original.key and not s.breakthrough
    assert caught == defended
    assert all(r.verdict == REPRODUCED for r in s.counted)  # the numbers are real: only the credit is stolen


# ---- a result with missing artifacts --------------------------------------------------------------------------


def _drawn_everywhere(people, n, make, tries=300):
    """A result (made by make(i)) for which each of `people` is drawn in some epoch of its window."""
    for i in range(tries):
        target = make(i)
        epochs = [_first_draw(p, target, n) for p in people]
        if all(e is not None for e in epochs):
            return target, epochs
    raise AssertionError("no such draw")


@DEFENDED
def test_missing_artifacts_count_against_the_claim(defended, monkeypatch):
    if not defended:  # `unavailable` treated as a decline: only reviewers who could 'check' count
        monkeypatch.setattr(breakthroughs, "VERDICTS_COUNTED", frozenset({REPRODUCED, NOT_REPRODUCED}))
    # fixed keys: the draws (who establishes the baseline) must not depend on how many keys earlier tests made
    honest = [identity(7100 + i) for i in range(4)]
    colluders = [identity(7200 + i) for i in range(3)]
    author, faker = identity(7300), identity(7301)
    validators = honest + colluders
    base = result(author, [0.40, 0.38, 0.39], T0)
    body = {k: v for k, v in result(faker, [0.45, 0.44, 0.455], T0).body.items() if k != "config"}
    target, epochs = _drawn_everywhere(
        validators,
        len(validators),
        lambda i: record(faker, "result", {**body, "inspired_by": base.key}, T0 + i),
    )
    assert reexecute(target, None).verdict == UNAVAILABLE
    reviews = _established(base, honest, len(validators))
    reviews += [
        review(h, target, e, verdict=UNAVAILABLE, score=2) for h, e in zip(honest, epochs, strict=False)
    ]
    reviews += [review(c, target, e) for c, e in zip(colluders, epochs[len(honest) :], strict=True)]
    s = _standing([base, target], reviews, [profile(v) for v in validators])[target.key]
    assert (not s.breakthrough) == defended


# ---- a colluding pair voting 10 on each other's fabrications ------------------------------------------------


@DEFENDED
def test_a_colluding_pair_cannot_carry_each_others_fabrications(defended, monkeypatch):
    if not defended:  # authors may review their own work
        rules = tuple(r for r in breakthroughs.RULES if r.__name__ != "_not_the_author")
        monkeypatch.setattr(breakthroughs, "RULES", rules)
    a, b = identity(), identity()
    honest = [identity() for _ in range(3)]  # five validators: everyone is drawn
    author = identity()
    base = result(author, [0.40, 0.38, 0.39], T0)
    fake_a = result(a, [0.45, 0.44, 0.455], T0 + 1000, cfg=config(k1=1.3), parent=base)
    fake_b = result(b, [0.46, 0.45, 0.465], T0 + 2000, cfg=config(k1=1.4), parent=base)
    reviews = [review(h, base, E0, score=5) for h in honest]
    for fake, one, other, h in ((fake_a, a, b, honest[0]), (fake_b, b, a, honest[1])):
        reviews += [review(one, fake, E0), review(other, fake, E0), review(h, fake, E0, NOT_REPRODUCED, 1)]
    standings = _standing([base, fake_a, fake_b], reviews, [profile(v) for v in (a, b, *honest)])
    assert (not standings[fake_a.key].breakthrough and not standings[fake_b.key].breakthrough) == defended


@DEFENDED
def test_colluders_outnumbering_honest_reviewers_in_the_first_epoch_face_a_grown_committee(
    defended, monkeypatch
):
    if not defended:  # a later epoch counts only when the committee is short, never on a dispute
        monkeypatch.setattr(breakthroughs, "disputed", lambda rows: False)
    colluders = [identity() for _ in range(3)]
    honest = [identity() for _ in range(5)]
    faker, author = identity(), identity()
    validators = colluders + honest
    n = len(validators)
    base = result(author, [0.40, 0.38, 0.39], T0)
    for i in range(400):
        fake = result(faker, [0.45, 0.44, 0.455], T0 + EPOCH_MS + i, cfg=config(k1=1.3), parent=base)
        first = [h for h in honest if sortition.draw(h.vrf, fake.key, E0 + 1, n)]
        later = [h for h in honest if h not in first[:2] and sortition.draw(h.vrf, fake.key, E0 + 2, n)]
        if (
            all(sortition.draw(c.vrf, fake.key, E0 + 1, n) for c in colluders)
            and len(first) >= 2
            and len(later) >= 3
        ):
            break
    else:
        raise AssertionError("no such draw")
    reviews = _established(base, honest, n)
    reviews += [review(c, fake, E0 + 1) for c in colluders]  # three colluders against two honest reviewers
    reviews += [review(h, fake, E0 + 1, NOT_REPRODUCED, 1) for h in first[:2]]
    reviews += [review(h, fake, E0 + 2, NOT_REPRODUCED, 1) for h in later[:3]]
    s = _standing([base, fake], reviews, [profile(v) for v in validators])[fake.key]
    assert (not s.breakthrough) == defended


# ---- forged or reused VRF proofs -----------------------------------------------------------------------------


def _trusting(public_key, proof, alpha):
    """A verifier that believes any well-formed proof (the defence removed)."""
    try:
        return vrf.proof_to_hash(proof)
    except vrf.VrfError:
        return None


@DEFENDED
def test_forged_reused_and_borrowed_proofs_earn_no_seat(defended):
    validators = [identity() for _ in range(40)]  # n = 40: each is drawn with probability 1/8
    n = len(validators)
    faker, author = identity(), identity()
    base = result(author, [0.40, 0.38, 0.39], T0)
    fake = result(faker, [0.45, 0.44, 0.455], T0 + 1000, cfg=config(k1=1.3), parent=base)
    other = result(author, [0.41, 0.39, 0.40], T0 + 2000, cfg=config(k1=1.1))
    undrawn = [v for v in validators if _first_draw(v, fake, n) is None]
    drawn_elsewhere = [v for v in undrawn if _first_draw(v, other, n) is not None][:3]
    honest_seat = next(v for v in validators if _first_draw(v, fake, n) is not None)
    assert len(drawn_elsewhere) == 3
    forged = [review(undrawn[-1], fake, E0, proof=bytes(range(80)))]  # made-up bytes
    reused = [
        review(v, fake, E0, proof=v.vrf.prove(sortition.alpha(other.key, _first_draw(v, other, n))))
        for v in drawn_elsewhere
    ]
    borrowed_proof = honest_seat.vrf.prove(sortition.alpha(fake.key, _first_draw(honest_seat, fake, n)))
    borrowed = [review(undrawn[-2], fake, _first_draw(honest_seat, fake, n), proof=borrowed_proof)]
    for bad in forged + reused + borrowed:
        with pytest.raises(ValueError):
            check_review(bad)  # a replica refuses these outright
    reviews = _established(base, validators, n) + forged + reused + borrowed
    verify = vrf.verify if defended else _trusting
    s = _standing([base, fake], reviews, [profile(v) for v in validators], verify=verify)[fake.key]
    assert (not s.breakthrough and not s.counted) == defended


# ---- review spam on one target -------------------------------------------------------------------------------


@DEFENDED
def test_review_spam_counts_once(defended, monkeypatch):
    if not defended:  # every review counts, not one per reviewer
        rules = tuple(r for r in breakthroughs.RULES if r.__name__ != "_first_of_reviewer")
        monkeypatch.setattr(breakthroughs, "RULES", rules)
    spammer = identity()
    honest = [identity() for _ in range(2)]
    sybils = [identity() for _ in range(5)]  # valid proofs of their own, but no validator profile
    author = identity()
    base = result(author, [0.40, 0.38, 0.39], T0)
    fake = result(spammer, [0.45, 0.44, 0.455], T0 + 1000, cfg=config(k1=1.3), parent=base)
    accomplice = identity()
    reviews = [review(v, base, E0, score=5) for v in (*honest, accomplice)]
    reviews += [review(accomplice, fake, E0, ts=T0 + 20_000 + i) for i in range(30)]
    reviews += [review(s, fake, E0) for s in sybils]
    reviews += [review(h, fake, E0, NOT_REPRODUCED, 1) for h in honest]
    s = _standing([base, fake], reviews, [profile(v) for v in (*honest, accomplice)])[fake.key]
    assert sum(r.eligible for r in s.rows) == (3 if defended else 32)
    assert (not s.breakthrough) == defended


# ---- withholding artifacts until the deadline ---------------------------------------------------------------


@DEFENDED
def test_artifacts_withheld_until_the_deadline_do_not_help(real, defended, monkeypatch):
    if not defended:  # reviews stamped after the deadline still count
        monkeypatch.setattr(
            breakthroughs, "RULES", tuple(r for r in breakthroughs.RULES if r.__name__ != "_in_window")
        )
    honest = [identity() for _ in range(2)]
    colluders = [identity() for _ in range(4)]
    author, withholder = identity(), identity()
    validators = honest + colluders
    n = len(validators)
    base = result(author, real["base"], T0)
    claimed = {k: v for k, v in result(withholder, [v + 0.05 for v in real["base"]], T0).body.items()}
    claimed = {k: v for k, v in claimed.items() if k != "config"} | {
        "artifacts": "runs/0001",
        "inspired_by": base.key,
    }

    def make(i):
        return record(withholder, "result", claimed, T0 + EPOCH_MS + i)

    target, epochs = _drawn_everywhere(validators, n, make)
    deadline = sortition.deadline_ms(target)
    bundle = Artifacts(config=config(k1=1.3))

    def fetch(now_ms):  # the withholder serves its artifacts only once the window has closed
        return bundle if now_ms >= deadline else None

    net = Network()
    for v in validators:
        net.publish(v, profile(v))
    net.publish(author, base)
    net.publish(withholder, target)
    reviews = _established(base, honest + colluders, n)
    for h in honest:
        store = Store(h.peer_id, native)
        core = Reviewer(h.peer_id, h.vrf)
        for now in range(target.ts + SETTLE_MS, deadline + 2 * EPOCH_MS, 5000):
            net.deliver(store, now)
            for job in core.tick(now, store):
                body = core.conclude(job, reexecute(job.result, fetch(now)), now + 1000, store)
                reviews.append(record(h, "review", body, now + 1000))
                net.publish(h, reviews[-1])
    assert {r.body["verdict"] for r in reviews if r.body["target"] == target.key} == {UNAVAILABLE}
    reviews.append(review(colluders[0], target, epochs[len(honest)]))  # in time
    for c, e in zip(colluders[1:], epochs[len(honest) + 1 :], strict=True):  # after the deadline
        reviews.append(review(c, target, e, ts=deadline + 5000))
    s = _standing([base, target], reviews, [profile(v) for v in validators])[target.key]
    assert (not s.breakthrough) == defended


@DEFENDED
def test_spam_with_undrawn_tickets_does_not_stop_a_top_up(defended, monkeypatch):
    if not defended:  # the reviewer counts every ticketed review when deciding whether the committee is short
        monkeypatch.setattr(
            Reviewer, "_eligible", lambda self, r, result, before, members, n: r.body["epoch"] < before
        )
    validators = [identity() for _ in range(12)]
    me, spammers = validators[0], validators[1:]
    author = identity()
    n = len(validators)
    for i in range(400):
        target = result(author, [0.45, 0.44, 0.455], T0 + i)
        undrawn = [v for v in spammers if not sortition.draw(v.vrf, target.key, E0, n)]
        mine = (sortition.draw(me.vrf, target.key, E0, n), sortition.draw(me.vrf, target.key, E0 + 1, n))
        if mine[0] is None and mine[1] is not None and len(undrawn) >= 5:
            break
    else:
        raise AssertionError("no such draw")
    net = Network()
    for v in validators:
        net.publish(v, profile(v))
    net.publish(author, target)
    for v in undrawn[:5]:  # five reviews in the first epoch, none of them drawn
        net.publish(v, review(v, target, E0))
    store = Store(me.peer_id, native)
    net.deliver(store, T0 + 2 * EPOCH_MS)
    core = Reviewer(me.peer_id, me.vrf)
    jobs = core.tick(sortition.epoch_start(E0 + 1) + 1, store)
    assert ([j.ticket.epoch for j in jobs] == [E0 + 1]) == defended


# ---- an ml claim with a fabricated metric, or a checkpoint swapped for a better one -------------------------


@pytest.fixture(scope="module")
def ml():
    """Real digits-mlp runs: 20 steps (what the claims commit to) and 200 (a better model to swap in)."""
    return {"short": ml_runs(20), "long": ml_runs(200)}


@DEFENDED
def test_a_fabricated_ml_metric_fails_on_its_own_checkpoints(ml, defended, monkeypatch):
    if not defended:  # any checkpoint agrees with any claim
        monkeypatch.setattr(checkpoints, "agrees", lambda claimed, measured, tolerance: True)
    cfg, runs = ml["short"]
    blobs = [r.checkpoint for r in runs]
    fake = ml_result(identity(), cfg, [r.value - 0.3 for r in runs], T0, blobs)  # honest θ, a better loss
    rex = reexecute(fake, Artifacts(checkpoints=blobs), retrain=False)  # a checkpoint-only reviewer
    caught = rex.verdict == NOT_REPRODUCED and "the checkpoint scores" in rex.reason
    assert caught == defended
    if defended:  # a re-training reviewer learns the same before training anything
        full = reexecute(fake, Artifacts(checkpoints=blobs))
        assert (full.verdict, full.reason) == (rex.verdict, rex.reason)


@DEFENDED
def test_a_swapped_checkpoint_is_not_the_blob_named(ml, defended, monkeypatch):
    if not defended:  # whatever bytes arrive are taken for the blob named
        monkeypatch.setattr(checkpoints, "is_blob", lambda data, name: True)
    cfg, runs = ml["short"]
    _, better = ml["long"]
    # the claim commits to the 20-step config and names its real checkpoints but claims what 200 steps score;
    # the source serves the 200-step θ under those names
    fake = ml_result(identity(), cfg, [r.value for r in better], T0, [r.checkpoint for r in runs])
    rex = reexecute(fake, Artifacts(checkpoints=[r.checkpoint for r in better]), retrain=False)
    caught = rex.verdict == UNAVAILABLE and "are not checkpoint" in rex.reason
    assert caught == defended
