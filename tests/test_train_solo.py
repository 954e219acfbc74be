"""Solo training: committed states at fixed intervals, and any step re-executed from them."""

import json
import math

import pytest

from pynode.cli import main
from pynode.train import solo
from pynode.train.runner import TrainState
from pynode.train.zoo import get_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return solo.train(
        get_model("digits-mlp"), 60, tmp_path_factory.mktemp("run"), seed=3, checkpoint_every=20
    )


def test_training_lowers_the_loss_and_commits_a_state_every_interval(run):
    assert [c.step for c in run.checkpoints] == [0, 20, 40, 60]
    assert len(run.losses()) == 60
    assert run.record["final_val_loss"] < 0.6 < math.log(10)
    assert run.record["final_val_accuracy"] > 0.8
    assert run.record["graph"] and run.record["data"]


def test_a_reexecuted_step_matches_the_claimed_loss_and_the_committed_theta(run):
    v = solo.verify_step(run, 21)  # first step after a checkpoint: one step from a committed state
    assert v.ok and v.loss_replayed == v.loss_claimed
    v = solo.verify_step(run, 40)  # ends at a checkpoint: θ compared too
    assert v.ok and v.theta_max_abs_diff == 0.0


def test_a_false_loss_claim_fails_verification(run, tmp_path):
    record = dict(run.record)
    record["losses"] = list(record["losses"])
    record["losses"][20] *= 1.01
    (run.dir / "run.json").write_text(json.dumps(record))
    try:
        assert not solo.verify_step(solo.SoloRun(run.dir), 21).ok
    finally:
        (run.dir / "run.json").write_text(json.dumps(run.record))


def test_an_altered_committed_state_is_refused(run):
    path = run.dir / "ckpt" / "0000020.state"
    original = path.read_bytes()
    state = TrainState.from_bytes(original)
    state.theta[0] += 1e-3
    path.write_bytes(state.to_bytes())
    try:
        with pytest.raises(ValueError, match="does not match"):
            solo.verify_step(run, 21)
    finally:
        path.write_bytes(original)


def test_the_same_seed_repeats_the_run_bit_for_bit(run, tmp_path):
    again = solo.train(get_model("digits-mlp"), 20, tmp_path, seed=3, checkpoint_every=20)
    assert again.losses() == run.losses()[:20]
    assert again.checkpoints[1] == run.checkpoints[1]


def test_cli_trains_with_a_progress_bar_and_replays_a_step(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--task",
                "digits-mlp",
                "--steps",
                "30",
                "--checkpoint-every",
                "10",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "30/30 loss" in err and "4 committed states" in err
    assert main(["train", "--replay", str(tmp_path), "--step", "11"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
