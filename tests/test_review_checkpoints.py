"""ml results name their trained checkpoints (blobs in storage); a reviewer that fetched them checks each is the
blob named and scores the claimed sample before (or, under a checkpoint-only policy, instead of) re-training.

Real digits-mlp runs (20 steps, a fraction of a second each); the blobs are handed over as a storage fetch
would deliver them (tests/test_storage_network.py fetches them through the service between nodes)."""

from __future__ import annotations

import hashlib

import pytest

from pynode.research.ml import TASKS
from pynode.review.checkpoints import checkpoint_size
from pynode.review.reexecute import NOT_REPRODUCED, REPRODUCED, UNAVAILABLE, Artifacts, reexecute
from pynode.state.records import SCHEMAS
from pynode.wire.errors import WireError
from tests.review_world import T0, identity, ml_result, ml_runs


@pytest.fixture(scope="module")
def runs():
    return ml_runs(20)


@pytest.fixture(scope="module")
def claim(runs):
    cfg, evals = runs
    return ml_result(identity(), cfg, [e.value for e in evals], T0, [e.checkpoint for e in evals])


def test_a_checkpoint_is_the_runs_final_theta_named_by_its_committed_hash(runs):
    cfg, evals = runs
    for e in evals:
        assert hashlib.sha256(e.checkpoint).hexdigest() == e.details["checkpoints"][-1]["theta"]
    assert checkpoint_size("digits-mlp", cfg) == len(evals[0].checkpoint)  # what a reviewer fetches at most
    assert checkpoint_size("digits-mlp", '{"variant": "charlm-tiny"}') is None  # no config of the task


def test_the_record_names_one_blob_per_seed_and_old_records_stay_valid(claim):
    body = dict(claim.body)
    SCHEMAS["result"](body)
    SCHEMAS["result"]({k: v for k, v in body.items() if k != "checkpoints"})
    for bad in (body["checkpoints"][:2], [*body["checkpoints"][:2], "ab" * 31], [b"\x00" * 32] * 3):
        with pytest.raises(WireError):
            SCHEMAS["result"]({**body, "checkpoints": bad})


def test_honest_checkpoints_are_checked_then_the_claim_is_re_trained(runs, claim):
    _, evals = runs
    fetched = Artifacts(checkpoints=[e.checkpoint for e in evals])
    rex = reexecute(claim, fetched)
    assert (rex.verdict, rex.checkpoints_checked) == (REPRODUCED, 3)
    only = reexecute(claim, fetched, retrain=False)
    assert (only.verdict, only.checkpoints_checked) == (REPRODUCED, 3)
    assert only.measured == tuple(e.value for e in evals)  # evaluating θ repeats the run's own evaluation
    assert only.baseline == rex.baseline  # the rubric's measurements are made either way


def test_a_reviewer_without_storage_re_trains_as_before(claim):
    rex = reexecute(claim, None)
    assert (rex.verdict, rex.checkpoints_checked) == (REPRODUCED, 0)


def test_a_checkpoint_nobody_delivers_makes_the_claim_unavailable(runs, claim):
    _, evals = runs
    rex = reexecute(claim, Artifacts(checkpoints=[evals[0].checkpoint, None, evals[2].checkpoint]))
    assert rex.verdict == UNAVAILABLE and "seed 1" in rex.reason and "held by no peer" in rex.reason


def test_a_blob_that_is_no_theta_of_the_variant_is_not_reproduced(runs):
    cfg, evals = runs
    blobs = [e.checkpoint for e in evals]
    blobs[2] = blobs[2] + bytes(4)  # one float too many: named honestly, but no θ of digits-mlp
    wrong = ml_result(identity(), cfg, [e.value for e in evals], T0, blobs)
    rex = reexecute(wrong, Artifacts(checkpoints=blobs), retrain=False)
    assert rex.verdict == NOT_REPRODUCED and "seed 2" in rex.reason and "not a θ" in rex.reason


def test_a_checkpoint_other_than_the_one_the_run_committed_is_not_reproduced(runs):
    cfg, evals = runs
    blobs = [e.checkpoint for e in evals]
    blobs[0], blobs[1] = blobs[1], blobs[0]  # real checkpoints, named under the other seed
    details = [dict(e.details) for e in evals]
    swapped = ml_result(identity(), cfg, [e.value for e in evals], T0, blobs)
    rex = reexecute(swapped, Artifacts(checkpoints=blobs, details=details), bytes(64), retrain=False)
    assert rex.verdict == NOT_REPRODUCED and "seed 0" in rex.reason and "committed" in rex.reason


def test_the_tolerance_is_the_tasks(runs):
    cfg, evals = runs
    tolerance = TASKS["digits-mlp"].task.tolerance
    near = [e.value + 0.5 * tolerance for e in evals]
    far = [e.value + 3 * tolerance for e in evals]
    blobs = Artifacts(checkpoints=[e.checkpoint for e in evals])
    assert reexecute(
        ml_result(identity(), cfg, near, T0, blobs.checkpoints), blobs, retrain=False
    ).verdict == (REPRODUCED)
    off = reexecute(ml_result(identity(), cfg, far, T0, blobs.checkpoints), blobs, retrain=False)
    assert off.verdict == NOT_REPRODUCED and "the checkpoint scores" in off.reason
