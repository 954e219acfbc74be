"""ml experiments trained as DiLoCo runs with peers: the run a seed is, what a result records of it, and the
replay by which `reproduce` and a reviewer re-execute it. Real digits-mlp runs of 2 simulated peers
(pynode.sim.diloco: the real cores and codec), 24 inner steps each."""

from __future__ import annotations

import dataclasses

import pytest

from pynode.research.config import canonical
from pynode.research.ml import DOMAIN, TASKS, collab
from pynode.research.reproduce import reproduce
from pynode.review.reexecute import NOT_REPRODUCED, REPRODUCED, Artifacts, reexecute
from pynode.sim.diloco import DilocoSimulation
from pynode.state.records import SCHEMAS
from pynode.wire.errors import WireError
from tests.review_world import T0, identity, ml_result, record

TASK = TASKS["digits-mlp"]
CONFIG = DOMAIN.validate(
    TASK.task.id, {**TASK.baseline, "lr": 0.005, "warmup": 2, "schedule": "cosine", "steps": 24}
)


def train(seed: int, k: int = 2):
    run = collab.run_spec(TASK, CONFIG, seed, nonce=seed + 7)
    sim = DilocoSimulation(run, k)
    sim.rounds(run.rounds)
    core = sim.workers[0].core
    rounds = collab.rounds_of(core.history, run)
    return collab.evaluation(TASK, CONFIG, run, rounds, core.state, None), rounds


@pytest.fixture(scope="module")
def seeds():
    return [train(seed) for seed in range(3)]


@pytest.fixture(scope="module")
def claim(seeds):
    evals = [e for e, _ in seeds]
    r = ml_result(identity(), canonical(CONFIG), [e.value for e in evals], T0, [e.checkpoint for e in evals])
    return with_body(r, training=collab.training_body(evals))


def with_body(r, **change):
    return record(identity(), "result", {**r.body, **change}, T0)


def test_a_seed_is_one_whole_run_of_the_configs_schedule_on_the_tasks_data(seeds):
    run = collab.run_spec(TASK, CONFIG, 2, nonce=1)
    assert (run.task, run.seed, run.data, run.rounds, run.H) == ("digits-mlp", 2, "digits", 4, 6)
    assert [run.hyper(s).lr for s in range(24)] == [
        pytest.approx(x) for x in [run.inner.hyper(run.spec.hyper, s).lr for s in range(24)]
    ]
    assert collab.task_of(run, ["digits-mlp", "charlm-cranfield"]) == "digits-mlp"
    assert collab.task_of(dataclasses.replace(run, inner=None), ["digits-mlp"]) is None  # not an experiment
    for e, rounds in seeds:
        assert collab.regular(rounds) and len(rounds) == 4
        assert e.details["checkpoints"][-1]["step"] == 24
    values = [e.value for e, _ in seeds]
    assert len(set(values)) == 3  # independent runs: each seed its own outcome


def test_irregular_histories_are_not_clean_outcomes():
    a, b, c = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    assert collab.regular([[(a, 6), (b, 6)]] * 3)
    assert not collab.regular([[(a, 6)]] * 3)  # alone: no DiLoCo run
    assert not collab.regular([[(a, 6), (b, 6)], [(a, 6)], [(a, 6), (b, 6)]])  # b dropped out of a round
    assert not collab.regular([[(a, 6), (b, 6)], [(a, 6), (b, 6), (c, 6)]])
    assert not collab.regular([])


def test_peers_on_the_task_are_live_recent_authors_of_its_results():
    me, peer, gone, old = (identity() for _ in range(4))
    now = T0 + 10**6
    recs = [
        record(p, "result", ml_result(p, canonical(CONFIG), [0.5, 0.5, 0.5], ts).body, ts)
        for p, ts in ((me, now), (peer, now - 1000), (gone, now), (old, now - 10**7))
    ]
    live = {peer.peer_id, old.peer_id, me.peer_id}
    assert collab.peers_on_task(recs, TASK.task.id, me.peer_id, live, now) == {peer.peer_id}
    assert collab.peers_on_task(recs, "charlm-cranfield", me.peer_id, live, now) == set()


def test_the_result_says_how_it_was_trained_and_old_results_stay_valid(claim):
    SCHEMAS["result"](dict(claim.body))
    t = claim.body["training"]
    assert t["mode"] == "diloco" and len(t["runs"]) == 3
    SCHEMAS["result"]({**claim.body, "training": {"mode": "solo"}})
    SCHEMAS["result"]({k: v for k, v in claim.body.items() if k != "training"})
    run = t["runs"][0]
    bad = [
        {"mode": "diloco"},
        {"mode": "solo", "runs": t["runs"]},
        {"mode": "federated"},
        {"mode": "diloco", "runs": t["runs"][:2]},
        {"mode": "diloco", "runs": [{**run, "rounds": [[]]}, *t["runs"][1:]]},
        {"mode": "diloco", "runs": [{**run, "rounds": [[[b"\x00" * 31, 6]]]}, *t["runs"][1:]]},
        {"mode": "diloco", "runs": [{**run, "rounds": [[[b"\x00" * 32, 0]]]}, *t["runs"][1:]]},
        {"mode": "diloco", "runs": [{**run, "extra": 1}, *t["runs"][1:]]},
    ]
    for training in bad:
        with pytest.raises(WireError):
            SCHEMAS["result"]({**claim.body, "training": training})


def test_reproduce_replays_each_seeds_run_and_agrees_bit_for_bit(claim, seeds):
    rep = reproduce(claim)
    assert rep.agree and rep.measured == tuple(e.value for e, _ in seeds)


def test_a_reviewer_replays_the_runs_even_under_a_checkpoint_only_policy(claim, seeds):
    fetched = Artifacts(checkpoints=[e.checkpoint for e, _ in seeds], details=[e.details for e, _ in seeds])
    for retrain in (True, False):
        rex = reexecute(claim, fetched, retrain=retrain)
        assert (rex.verdict, rex.checkpoints_checked, rex.step_checked) == (REPRODUCED, 3, None)


def test_a_tampered_diloco_claim_is_not_reproduced(claim, seeds):
    samples = list(claim.body["samples"])
    samples[1] = str(round(float(samples[1]) - 0.05, 6))
    assert not reproduce(with_body(claim, samples=samples)).agree
    t = claim.body["training"]
    # a history that leaves a peer out of a round is not the run that trained those θ
    short = {**t["runs"][0], "rounds": [t["runs"][0]["rounds"][0][:1], *t["runs"][0]["rounds"][1:]]}
    rex = reexecute(with_body(claim, training={**t, "runs": [short, *t["runs"][1:]]}), None)
    assert rex.verdict == NOT_REPRODUCED and "seed 0" in rex.reason
    # a run of another seed (or config) is not this seed's
    swapped = {**t, "runs": [t["runs"][1], t["runs"][0], t["runs"][2]]}
    rex = reexecute(with_body(claim, training=swapped), None)
    assert rex.verdict == NOT_REPRODUCED and "is not seed 0" in rex.reason
    # a seed trains from its θ₀: a run of it from a checkpoint is another run
    warm = {**t["runs"][0], "run": {**t["runs"][0]["run"], "init": bytes(32)}}
    rex = reexecute(with_body(claim, training={**t, "runs": [warm, *t["runs"][1:]]}), None)
    assert rex.verdict == NOT_REPRODUCED and "is not seed 0" in rex.reason
    # claimed as solo, the samples do not reproduce: DiLoCo is another procedure with another outcome
    assert not reproduce(with_body(claim, training={"mode": "solo"})).agree
