"""The review core: sortition, the review record, re-execution, the rubric, the breakthrough view, a reviewer."""

from __future__ import annotations

import random
import statistics

import pytest

from pynode.identity import vrf
from pynode.platform import native
from pynode.research.agent import decimal_text
from pynode.research.config import canonical
from pynode.research.search import DOMAIN as SEARCH
from pynode.review import breakthroughs, sortition
from pynode.review.breakthroughs import analyse
from pynode.review.params import COMMITTEE_K, EPOCH_MS, SETTLE_MS, WINDOW_EPOCHS
from pynode.review.policy import check_review
from pynode.review.reexecute import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNAVAILABLE,
    Artifacts,
    CannotJudge,
    Reexecution,
    reexecute,
)
from pynode.review.reviewer import Reviewer, ReviewerConfig
from pynode.review.rubric import Context, assess, config_distance, context_for
from pynode.state.records import decode_record
from pynode.state.store import Store
from pynode.wire.errors import WireError
from tests.review_world import E0, T0, TASK, Network, config, identity, profile, record, result, review

# ---- sortition --------------------------------------------------------------------------------------------


def test_alpha_is_the_documented_bytes():
    key = "ab" * 32
    a = sortition.alpha(key, 258)
    assert a == b"hyperspace/1/review\x00" + bytes([0xAB]) * 32 + bytes([0, 0, 0, 0, 0, 0, 1, 2])
    assert len(a) == 60


def test_epochs_and_the_window_follow_wall_clock_slots():
    r = result(identity(), [0.4, 0.41, 0.42], T0 + 29_999)
    assert sortition.first_epoch(r) == E0 and sortition.epoch_of(T0 + EPOCH_MS) == E0 + 1
    assert list(sortition.window(r)) == list(range(E0, E0 + WINDOW_EPOCHS))
    assert sortition.deadline_ms(r) == T0 + WINDOW_EPOCHS * EPOCH_MS


def test_threshold_is_exact_integer_arithmetic():
    n, k = 12, 5
    edge = -(-k * 2**64 // n)  # the smallest x with x·n ≥ k·2⁶⁴
    assert sortition.selected((edge - 1).to_bytes(8, "big") + bytes(56), n, k)
    assert not sortition.selected(edge.to_bytes(8, "big") + bytes(56), n, k)
    assert sortition.selected(b"\xff" * 64, k, k)  # n ≤ k: everyone is drawn


def test_draws_verify_for_everyone_and_only_for_their_own_input():
    me, other = identity(), identity()
    key = "cd" * 32
    ticket = next(t for e in range(50) if (t := sortition.draw(me.vrf, key, e, 20)) is not None)
    assert sortition.eligible_beta(me.peer_id, ticket.proof, key, ticket.epoch, 20) == ticket.beta
    assert sortition.eligible_beta(other.peer_id, ticket.proof, key, ticket.epoch, 20) is None
    assert sortition.eligible_beta(me.peer_id, ticket.proof, key, ticket.epoch + 1, 20) is None
    assert sortition.eligible_beta(me.peer_id, ticket.proof, "ce" * 32, ticket.epoch, 20) is None


def test_expected_committee_size_is_k():
    members = [identity() for _ in range(40)]
    sizes = []
    for i in range(100):
        key = f"{i:064x}"
        sizes.append(sum(sortition.draw(m.vrf, key, E0, len(members)) is not None for m in members))
    assert abs(statistics.mean(sizes) - COMMITTEE_K) < 0.8  # the standard error of this mean is 0.21


def test_validators_are_known_from_profiles_before_the_window():
    a, b, c = identity(), identity(), identity()
    profiles = [
        profile(a),
        profile(b),
        profile(b, ts=T0 - 1000, caps=["research"]),  # b's newest profile drops validation
        profile(c, ts=T0 + 5),  # too late for results of epoch E0
    ]
    members = sortition.validators(profiles, T0)
    assert members == {a.peer_id}
    assert sortition.committee_n(members) == COMMITTEE_K


# ---- the review record --------------------------------------------------------------------------------------


def test_old_reviews_stay_valid_and_new_fields_are_checked():
    who, target = identity(), result(identity(), [0.4, 0.4, 0.4], T0)
    old = record(who, "review", {"target": target.key, "score": 7, "rubric": "manual"}, T0)
    assert decode_record(old.encoded).body["score"] == 7
    full = review(who, target, E0)
    assert decode_record(full.encoded).body["verdict"] == REPRODUCED
    base = {"target": target.key, "score": 3, "rubric": "hs-review-1"}
    for bad in (
        {"vrf": bytes(80)},  # a proof without its epoch
        {"verdict": "probably"},
        {"measured": 0.5},  # a float on the wire
        {"subscores": {"effect": 2}},
        {"subscores": {f"s{i}": "1" for i in range(9)}},
        {"copy_of": "nothex"},
    ):
        with pytest.raises(WireError):
            record(who, "review", {**base, **bad}, T0)


def test_policy_refuses_a_review_whose_proof_is_not_its_authors():
    who, thief = identity(), identity()
    target = result(identity(), [0.4, 0.4, 0.4], T0)
    good = review(who, target, E0)
    check_review(good)
    stolen = review(thief, target, E0, proof=good.body["vrf"])
    with pytest.raises(ValueError, match="VRF proof"):
        check_review(stolen)


# ---- re-execution (real: the Cranfield ranking) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline_samples() -> list[float]:
    cfg = SEARCH.validate(TASK.id, SEARCH.baseline(TASK.id))
    return [SEARCH.evaluate(TASK.id, cfg, seed).value for seed in range(3)]


def test_an_honest_result_reproduces(baseline_samples):
    r = result(identity(), baseline_samples, T0)
    rex = reexecute(r, None)
    assert rex.verdict == REPRODUCED and rex.measured_text == r.body["value"]
    assert rex.tolerance == TASK.tolerance


def test_a_fabricated_metric_does_not_reproduce_and_the_measurement_says_so(baseline_samples):
    r = result(identity(), [v + 0.05 for v in baseline_samples], T0)
    rex = reexecute(r, None)
    assert rex.verdict == NOT_REPRODUCED and "seed" in rex.reason
    assert rex.measured == pytest.approx(baseline_samples, abs=1e-12)


def test_artifacts_supply_a_config_the_record_lacks(baseline_samples):
    r = result(identity(), baseline_samples, T0, cfg=None, artifacts="papers/run-1")
    r = record(identity(7), "result", {k: v for k, v in r.body.items() if k != "config"}, T0)
    assert reexecute(r, None).verdict == UNAVAILABLE
    assert reexecute(r, Artifacts(config=config())).verdict == REPRODUCED


def test_an_unknown_task_is_declined_not_judged():
    r = result(identity(), [0.4, 0.4, 0.4], T0)
    unknown = record(identity(), "result", {**r.body, "task": "from-a-newer-release"}, T0)
    with pytest.raises(CannotJudge):
        reexecute(unknown, None)


# ---- the rubric ---------------------------------------------------------------------------------------------


_AUTHOR_SEED = 4242  # the research chain's author, so a test can sign as it again


def _chain():
    author = identity(_AUTHOR_SEED)
    base = result(author, [0.40, 0.38, 0.39], T0)
    better = result(
        author, [0.45, 0.44, 0.455], T0 + 1000, cfg=config(k1=1.5), parent=base, baseline=base.key
    )
    return author, base, better


def _paper(author, target, complete=True):
    md = "# t\n\n## Hypothesis and prediction\n\nx\n\n## Method\n\ny\n\n![plot](figure-1.svg)\n\n"
    md += f"```\nhyperspace reproduce {target.key}\n```\n" if complete else ""
    body = {"title": "t", "domain": "search", "task": TASK.id, "results": [target.key], "markdown": md}
    return record(author, "paper", {**body, "figures": ["<svg/>"]}, target.ts + 1)


BASELINE = (0.40, 0.38, 0.39)  # the task's baseline as a reviewer re-measures it


def _rex(verdict=REPRODUCED, measured=(0.45, 0.44, 0.455)):
    ok = verdict == REPRODUCED
    return Reexecution(
        verdict, tuple(measured), TASK.tolerance, "" if ok else "because", None, BASELINE if ok else ()
    )


def test_rubric_scores_a_significant_improvement_from_measurements():
    author, base, better = _chain()
    ctx = context_for(better, [base, better], [_paper(author, better)])
    a = assess(better, _rex(), ctx)
    assert a.subscores == {"reproduction": 1, "effect": 2, "strength": 3, "novelty": 2, "completeness": 2}
    assert a.score == 10 and a.copy_of is None
    weaker = assess(better, _rex(), context_for(better, [base, better], [_paper(author, better, False)]))
    assert weaker.subscores["completeness"] == 1 and weaker.score == 9


def test_rubric_gate_and_copies():
    author, base, better = _chain()
    ctx = context_for(better, [base, better], [])
    assert assess(better, _rex(NOT_REPRODUCED), ctx).score == 1
    assert assess(better, _rex(UNAVAILABLE, ()), ctx).score == 2
    copy = record(identity(), "result", better.body, better.ts + 5)
    a = assess(copy, _rex(), context_for(copy, [base, better, copy], []))
    assert (a.score, a.copy_of) == (1, better.key)


def test_two_honest_reviewers_agree_exactly_despite_float_noise():
    author, base, better = _chain()
    ctx = context_for(better, [base, better], [_paper(author, better)])
    mine = assess(better, _rex(measured=(0.45, 0.44, 0.455)), ctx)
    theirs = assess(better, _rex(measured=(0.45 + 1e-12, 0.44 - 1e-12, 0.455)), ctx)
    assert (mine.score, mine.subscores, mine.notes) == (theirs.score, theirs.subscores, theirs.notes)


def test_novelty_is_config_distance_to_the_nearest_earlier_result():
    assert config_distance(config(), config()) == 0
    assert config_distance(config(), config(k1=1.5)) == pytest.approx(0.1)
    author, base, _ = _chain()
    rerun = result(author, [0.41, 0.39, 0.40], T0 + 10, parent=base)  # same config as the baseline
    assert assess(rerun, _rex(), Context(earlier=[base])).subscores["novelty"] == 0


# ---- the view -------------------------------------------------------------------------------------------------


def _honest_world():
    validators = [identity() for _ in range(5)]  # n ≤ k: every validator is drawn in every epoch
    author, base, better = _chain()
    profiles = [profile(v) for v in validators]
    reviews = [review(v, base, E0, score=5) for v in validators[:3]]
    reviews += [review(v, better, E0, score=9) for v in validators[1:5]]
    return validators, [base, better], reviews, profiles


def test_a_reproduced_significant_improvement_is_a_breakthrough():
    _, results, reviews, profiles = _honest_world()
    a = analyse(results, reviews, profiles, now_ms=T0 + 10 * EPOCH_MS)
    base, better = (a.standings[r.key] for r in results)
    assert base.established and not base.breakthrough  # nothing earlier to beat
    assert better.breakthrough and better.final and better.best == base.result.key and better.median == 9
    assert [s.result.key for s in a.breakthroughs(final_only=True)] == [results[1].key]
    assert not analyse(results, reviews, profiles, now_ms=T0).breakthroughs(final_only=True)


def test_the_view_is_the_same_in_any_order():
    _, results, reviews, profiles = _honest_world()
    first = analyse(results, reviews, profiles)
    rng = random.Random(3)
    for _ in range(3):
        rng.shuffle(results), rng.shuffle(reviews), rng.shuffle(profiles)
        again = analyse(results, reviews, profiles)
        assert again.weights == first.weights
        assert [s.result.key for s in again.breakthroughs()] == [s.result.key for s in first.breakthroughs()]


def test_weights_fall_for_reviewers_who_contradict_the_consensus():
    validators, results, reviews, profiles = _honest_world()
    liar = validators[0]
    reviews.append(review(liar, results[1], E0, verdict=NOT_REPRODUCED, score=1))
    a = analyse(results, reviews, profiles)
    assert a.weights[liar.peer_id] < a.weights[validators[1].peer_id] == 1
    assert a.standings[results[1].key].breakthrough


def test_a_lowered_weight_grows_back_with_agreement_but_never_past_a_newcomers():
    validators, results, reviews, profiles = _honest_world()
    liar, author = validators[0], identity()
    reviews.append(review(liar, results[1], E0, verdict=NOT_REPRODUCED, score=1))
    weights = [analyse(results, reviews, profiles).weights[liar.peer_id]]
    for i in range(4):  # later results the liar reviews like everyone else
        later = result(author, [0.40, 0.38, 0.39], T0 + 100 + i, cfg=config(k1=1.0 + i / 10))
        results.append(later)
        reviews += [review(v, later, E0, score=5) for v in validators[:3]]
        weights.append(analyse(results, reviews, profiles).weights[liar.peer_id])
    assert weights == sorted(set(weights)) and weights[-1] < 1  # (1 + a) / (1 + a + 2d), d = 1
    assert analyse(results, reviews, profiles).weights[validators[1].peer_id] == 1


def test_a_short_committee_is_topped_up_by_a_later_epoch():
    validators, results, reviews, profiles = _honest_world()
    better = results[1]  # four reviews in its first epoch: one short of k
    top_up = review(validators[0], better, E0 + 1)
    a = analyse(results, [*reviews, top_up], profiles)
    assert [r.counted for r in a.standings[better.key].rows if r.record.key == top_up.key] == [True]


def _whole_committee():
    """Six validators and a result whose first-epoch committee is five of them, the sixth drawn one epoch later."""
    validators = [identity() for _ in range(6)]
    author = identity()
    for i in range(200):
        target = result(author, [0.45, 0.44, 0.455], T0 + i)
        first = [v for v in validators if sortition.draw(v.vrf, target.key, E0, 6)]
        rest = [v for v in validators if v not in first and sortition.draw(v.vrf, target.key, E0 + 1, 6)]
        if len(first) == 5 and rest:
            return validators, target, first, rest[0]
    raise AssertionError("no such draw in 200 tries")


@pytest.mark.parametrize("dispute", [False, True])
def test_a_later_epoch_counts_only_when_the_committee_is_short_or_disputed(dispute):
    validators, target, first, later = _whole_committee()
    reviews = [
        review(v, target, E0, verdict=NOT_REPRODUCED if dispute and i == 0 else REPRODUCED)
        for i, v in enumerate(first)
    ]
    extra = review(later, target, E0 + 1)
    a = analyse([target], [*reviews, extra], [profile(v) for v in validators])
    row = next(r for r in a.standings[target.key].rows if r.record.key == extra.key)
    assert row.eligible and row.counted == dispute


# ---- a reviewer ---------------------------------------------------------------------------------------------


def _reviewer_world():
    net = Network()
    me = identity()
    others = [identity() for _ in range(3)]
    author = identity()
    for v in (me, *others):
        net.publish(v, profile(v))
    target = result(author, [0.40, 0.38, 0.39], T0 + 1000)
    net.publish(author, target)
    store = Store(me.peer_id, native)
    net.deliver(store, T0 + 2000)
    return net, me, others, author, target, store


def test_a_drawn_validator_reviews_after_the_settle_time_and_only_once():
    net, me, others, author, target, store = _reviewer_world()
    core = Reviewer(me.peer_id, me.vrf)
    assert core.tick(target.ts + SETTLE_MS - 1, store) == []
    jobs = core.tick(target.ts + SETTLE_MS, store)
    assert [j.result.key for j in jobs] == [target.key] and jobs[0].ticket.epoch == E0
    assert core.tick(target.ts + SETTLE_MS + 1, store) == []
    body = core.conclude(jobs[0], _rex(NOT_REPRODUCED, (0.3, 0.3, 0.3)), target.ts + SETTLE_MS + 5, store)
    r = record(me, "review", body, target.ts + SETTLE_MS + 5)
    check_review(r)
    assert (r.body["verdict"], r.body["score"], r.body["measured"]) == (NOT_REPRODUCED, 1, "0.3")


def test_a_reviewer_never_reviews_its_own_work_nor_after_the_deadline():
    net, me, others, author, target, store = _reviewer_world()
    mine = result(me, [0.5, 0.5, 0.5], T0 + 1000)
    net.publish(me, mine)
    own = Reviewer(me.peer_id, me.vrf)
    assert [j.result.key for j in own.tick(T0 + 20_000, store)] == [target.key]
    late = Reviewer(me.peer_id, me.vrf)
    assert late.tick(sortition.deadline_ms(target), store) == []
    job = Reviewer(me.peer_id, me.vrf).tick(T0 + 20_000, store)[0]
    assert own.conclude(job, _rex(), sortition.deadline_ms(target), store) is None


def test_a_full_queue_declines():
    net, me, others, author, target, store = _reviewer_world()
    core = Reviewer(me.peer_id, me.vrf, ReviewerConfig(max_queue=0))
    assert core.tick(T0 + 20_000, store) == [] and core.counters.declined == 1
    core = Reviewer(me.peer_id, me.vrf, ReviewerConfig(domains=frozenset({"ml"})))
    assert core.tick(T0 + 20_000, store) == [] and core.counters.declined == 1


def test_breakthroughs_module_names_its_rules():
    assert [r.__name__ for r in breakthroughs.RULES] == [
        "_has_ticket",
        "_not_the_author",
        "_in_window",
        "_a_validator",
        "_drawn",
        "_first_of_reviewer",
    ]
    assert vrf.PROOF_BYTES == 80


def test_the_archive_lists_breakthroughs_from_the_records_alone():
    from relay_server.archive_layout import state_files

    validators, results, reviews, profiles = _honest_world()
    net = Network()
    for r in [*results, *reviews, *profiles]:
        author = next(v for v in [*validators, identity(_AUTHOR_SEED)] if v.peer_id == r.author)
        net.publish(author, r)
    store = Store(identity().peer_id, native)
    net.deliver(store, T0 + 10 * EPOCH_MS)
    files = state_files(store)
    assert results[1].key[:16] in files["breakthroughs/README.md"].decode()
    assert state_files(store)["breakthroughs/breakthroughs.json"] == files["breakthroughs/breakthroughs.json"]


# ---- ml: a training step replayed from the committed state ------------------------------------------------


def test_ml_claims_are_checked_by_a_replayed_step_chosen_by_the_reviewers_vrf():
    from pynode.research.ml import DOMAIN as ML

    task = ML.tasks["digits-mlp"]
    cfg = ML.validate(task.id, {**ML.baseline(task.id), "steps": 60})
    runs = [ML.evaluate(task.id, cfg, seed) for seed in range(task.seeds)]
    body = {
        "domain": "ml",
        "task": task.id,
        "metric": task.metric,
        "unit": task.unit,
        "direction": task.direction,
        "seeds": task.seeds,
        "samples": [decimal_text(r.value, 10) for r in runs],
        "config": canonical(cfg),
    }
    body["value"] = decimal_text(sum(float(v) for v in body["samples"]) / task.seeds)
    claim = record(identity(), "result", body, T0)
    details = [dict(r.details) for r in runs]
    beta = bytes(range(64))
    honest = reexecute(claim, Artifacts(details=details), beta)
    assert honest.verdict == REPRODUCED and honest.step_checked is not None
    doctored = [dict(d, losses=[x * 0.9 for x in d["losses"]]) for d in details]  # a made-up loss curve
    caught = reexecute(claim, Artifacts(details=doctored), beta)
    assert caught.verdict == NOT_REPRODUCED and f"step {honest.step_checked}" in caught.reason


def test_the_effect_is_measured_against_the_parents_config_as_re_run_not_its_claim(baseline_samples):
    author, faker = identity(), identity()
    inflated = result(faker, [v + 0.2 for v in baseline_samples], T0)  # the baseline's config, claims made up
    rm3 = config(fb_docs=10)
    cfg = SEARCH.validate(TASK.id, {**SEARCH.baseline(TASK.id), "fb_docs": 10})
    child = result(
        author, [SEARCH.evaluate(TASK.id, cfg, s).value for s in range(3)], T0 + 1, cfg=rm3, parent=inflated
    )
    rex = reexecute(child, None, parent=inflated)
    assert rex.reference_key == inflated.key and rex.reference == pytest.approx(baseline_samples, abs=1e-12)
    a = assess(child, rex, context_for(child, [inflated, child], []))
    assert a.subscores["effect"] == 2 and a.subscores["strength"] == 3  # a genuine gain over what it built on
