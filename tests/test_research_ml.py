"""The ml research domain: configs over the model zoo, trained on seeds, scored by validation loss."""

import math
import random

import pytest

from pynode.platform import current
from pynode.research.config import canonical
from pynode.research.domain import ConfigError
from pynode.research.ml import DOMAIN, TASKS, MlDomain, initial_state, train_seed, verify_step
from pynode.research.ml.limits import CHECKPOINT_EVERY, LR_FLOOR, MAX_LR, MIN_STEPS
from pynode.research.ml.schema import lr_at
from pynode.train.assets import TEXT_ALPHABET, data_hash
from pynode.train.data import load_dataset
from pynode.train.runner import TrainState
from pynode.train.zoo import get_model

DIGITS, CHARLM = "digits-mlp", "charlm-cranfield"
ML = MlDomain(runners=current())  # what the composition root hands over: the platform's model runners
RUNNERS = current()
SHORT_LM = {"steps": 40}  # enough for the char LM to beat its initial loss, short enough for a unit test


@pytest.fixture(scope="module")
def digits_run():
    """A digits baseline run on seed 1 with every committed state kept (what an author's artifacts hold)."""
    states: dict[int, TrainState] = {}
    config = ML.validate(DIGITS, {"steps": 120, "schedule": "cosine", "warmup": 10})
    ev = train_seed(TASKS[DIGITS], config, 1, RUNNERS, on_checkpoint=lambda s: states.setdefault(s.step, s))
    return config, ev, states


def test_tasks_name_one_metric_with_its_unit_and_direction():
    assert {t.metric for t in ML.tasks.values()} == {"val_loss"}
    assert ML.tasks[DIGITS].unit == "nats/image" and ML.tasks[CHARLM].unit == "nats/char"
    assert all(t.direction == "min" and t.domain == "ml" and t.seeds >= 3 for t in ML.tasks.values())
    assert TASKS[CHARLM].variants == (
        "charlm-tiny",
        "charlm-tiny-w96",
        "charlm-tiny-d3",
        "charlm-tiny-relu",
        "charlm-tiny-rms",
    )


def test_the_char_lm_trains_on_the_cranfield_abstracts():
    data = load_dataset(TASKS[CHARLM].dataset)
    assert data.hash == data_hash("cranfield.txt")
    head = "".join(TEXT_ALPHABET[i] for i in data.train[:74])
    assert head == "experimental investigation of the aerodynamics of a wing in a slipstream ."
    assert len(data.val) > 100_000 and len(data.eval_batches(get_model("charlm-tiny"))) == 32


@pytest.mark.parametrize("task", [DIGITS, CHARLM])
def test_training_beats_the_initial_loss_and_commits_states(task):
    config = ML.validate(task, SHORT_LM if task == CHARLM else {})
    ev = ML.evaluate(task, config, 0)
    d = ev.details
    assert ev.value == d["val_loss"] < d["initial_val_loss"] < TASKS[task].chance_loss * 1.1
    assert len(d["losses"]) == config["steps"] and d["diverged_at"] is None
    steps = [c["step"] for c in d["checkpoints"]]
    assert steps == sorted(
        {0, *range(CHECKPOINT_EVERY, config["steps"] + 1, CHECKPOINT_EVERY), config["steps"]}
    )
    assert all(len(c["theta"]) == len(c["state"]) == 64 for c in d["checkpoints"])
    assert d["graph"] and d["eval_graph"] and d["data"] == data_hash(load_dataset(TASKS[task].dataset).file)


@pytest.mark.parametrize("task", [DIGITS, CHARLM])
def test_same_config_and_seed_give_the_same_value(task):
    config = ML.validate(task, {**SHORT_LM, "schedule": "linear", "warmup": 5})
    a, b = ML.evaluate(task, config, 2), ML.evaluate(task, config, 2)
    assert a.value == b.value and a.details == b.details
    other = ML.evaluate(task, config, 3)
    assert other.value != a.value and other.details["checkpoints"][0] != a.details["checkpoints"][0]


HOSTILE = [
    ([1, 2], "JSON object"),
    ("lr=0.1", "JSON object"),
    ({"lr": 0.003, "evil": 1}, "unknown config field"),
    ({"lr": "0.003"}, "lr must be a number"),
    ({"lr": True}, "lr must be a number"),
    ({"lr": float("nan")}, "finite"),
    ({"lr": float("inf")}, "finite"),
    ({"lr": 10**400}, "lr must lie in"),
    ({"lr": -0.001}, "lr must lie in"),
    ({"lr": 1.0}, "lr must lie in"),
    ({"steps": 10**400}, "steps must lie in"),
    ({"steps": 10_000}, "steps must lie in"),
    ({"steps": 1}, "steps must lie in"),
    ({"steps": 200.5}, "whole number"),
    ({"steps": False}, "whole number"),
    ({"steps": [200]}, "whole number"),
    ({"warmup": -1}, "warmup must lie in"),
    ({"warmup": 150, "steps": 200}, "warmup must lie in"),
    ({"schedule": "exponential"}, "schedule must be one of"),
    ({"schedule": "cosine" * 1000}, "schedule must be one of"),
    ({"variant": "charlm-tiny"}, "variant must be one of"),  # another family's graphs
    ({"variant": "digits-mlp-w4096"}, "variant must be one of"),  # no such graph ships
    ({"variant": None}, "variant must be one of"),
    ({"weight_decay": 0.9}, "weight_decay must lie in"),
    ({"weight_decay": {"x": 1}}, "weight_decay must be a number"),
]


@pytest.mark.parametrize(("config", "reason"), HOSTILE, ids=[r for _, r in HOSTILE])
def test_validation_refuses_hostile_configs_with_a_reason(config, reason):
    with pytest.raises(ConfigError, match=reason):
        ML.validate(DIGITS, config)
    with pytest.raises(ConfigError):
        ML.evaluate(DIGITS, config, 0)


def test_unknown_tasks_are_refused():
    with pytest.raises(ConfigError, match="unknown ml task"):
        ML.validate("x" * 10_000, {})


def test_validation_canonicalises_idempotently():
    c = ML.validate(DIGITS, {"lr": 0.0031234, "steps": 300.0, "weight_decay": 0})
    assert c == {
        "variant": "digits-mlp",
        "lr": 0.00312,
        "warmup": 0,
        "schedule": "constant",
        "steps": 300,
        "weight_decay": 0.0,
    }
    assert type(c["steps"]) is int and type(c["weight_decay"]) is float
    assert ML.validate(DIGITS, c) == c
    assert canonical(c) == canonical(ML.validate(DIGITS, dict(reversed(list(c.items())))))


@pytest.mark.parametrize("task", [DIGITS, CHARLM])
def test_mutations_samples_and_crossovers_are_valid_and_state_their_change(task):
    rng = random.Random(7)
    parents = [ML.baseline(task)] + [ML.sample(task, rng) for _ in range(30)]
    names = set()
    for parent in parents:
        assert ML.validate(task, parent) == parent
        for m in ML.mutations(task):
            child = ML.validate(task, m.apply(dict(parent), rng))
            names.add(m.name)
            if child == parent:  # a move at its bound (lr already at its maximum, ...) changes nothing
                continue
            text = m.describe(parent, child)
            assert "val_loss" in text and "because" in text, (m.name, text)
            changed = [k for k in child if child[k] != parent[k]]
            key = "steps" if "steps" in changed else changed[0]  # fewer steps may shorten warm-up too
            assert len(changed) == 1 or set(changed) == {"steps", "warmup"}, (m.name, changed)
            old, new = (f"{c[key]:g}" if isinstance(c[key], float) else str(c[key]) for c in (parent, child))
            assert old in text and new in text, (m.name, text)
        other = ML.sample(task, rng)
        child = ML.validate(task, ML.crossover(task, parent, other, rng))
        assert all(child[k] in (parent[k], other[k]) for k in child if k != "warmup")
    assert len(names) == 9


def test_a_prediction_is_derived_from_the_change():
    base = ML.baseline(CHARLM)
    lr_down = next(m for m in ML.mutations(CHARLM) if m.name == "lr_down")
    text = lr_down.describe(base, {**base, "lr": 0.0015})
    assert text.startswith("lowering lr from 0.003 to 0.0015 lowers val_loss (nats/char) because")
    variant = next(m for m in ML.mutations(CHARLM) if m.name == "variant")
    text = variant.describe(base, {**base, "variant": "charlm-tiny-w96"})
    assert "width 64 → 96 (104,192 → 230,016 parameters)" in text


def test_the_lr_schedule_warms_up_then_decays_to_its_floor():
    c = {"lr": 0.01, "warmup": 10, "steps": 110, "schedule": "cosine"}
    assert [lr_at(c, s) for s in (0, 4, 9)] == pytest.approx([0.001, 0.005, 0.01])
    assert lr_at(c, 10) == pytest.approx(0.01)
    assert lr_at(c, 60) == pytest.approx(0.01 * (1 + LR_FLOOR) / 2)
    assert lr_at(c, 109) == pytest.approx(0.01 * LR_FLOOR, rel=0.01)
    lin = {**c, "schedule": "linear"}
    assert lr_at(lin, 60) == pytest.approx(0.01 * (1 + LR_FLOOR) / 2)
    assert all(lr_at({**c, "schedule": "constant"}, s) == 0.01 for s in range(10, 110))
    assert all(lr_at(c, s) >= lr_at(c, s + 1) for s in range(10, 109))


def test_a_reviewer_reexecutes_sampled_steps_from_committed_states(digits_run):
    config, ev, states = digits_run
    task = TASKS[DIGITS]
    assert sorted(states) == [0, 50, 100, 120]
    assert states[0].digest() == initial_state(config, 1).digest() == ev.details["checkpoints"][0]["state"]
    v = verify_step(task, config, 1, ev.details, 7, RUNNERS)  # from θ₀: no blob needed
    assert v.ok and v.loss_replayed == v.loss_claimed
    v = verify_step(task, config, 1, ev.details, 50, RUNNERS)  # ends at a checkpoint: the θ hash must match
    assert v.ok and v.theta_max_abs_diff == 0.0
    v = verify_step(task, config, 1, ev.details, 100, RUNNERS, states[50], states[100])
    assert v.ok and v.theta_max_abs_diff == 0.0
    assert verify_step(task, config, 1, ev.details, 113, RUNNERS, states[100]).ok


def test_a_false_claim_or_a_forged_state_fails_verification(digits_run):
    config, ev, states = digits_run
    task = TASKS[DIGITS]
    forged = {**ev.details, "losses": list(ev.details["losses"])}
    forged["losses"][60] *= 1.001
    assert not verify_step(task, config, 1, forged, 61, RUNNERS, states[50]).ok
    other_lr = {**config, "lr": config["lr"] * 2}  # the claimed config is not what was run
    assert not verify_step(task, other_lr, 1, ev.details, 7, RUNNERS).ok
    with pytest.raises(ValueError, match="committed state at step 50"):
        verify_step(task, config, 1, ev.details, 61, RUNNERS, states[0])
    with pytest.raises(ValueError, match="not a claimed step"):
        verify_step(task, config, 1, ev.details, 121, RUNNERS)


def test_the_registry_serves_the_domain():
    from pynode.research.registry import domain, find_task

    assert domain("ml") is DOMAIN
    d, t = find_task(CHARLM)
    assert d is DOMAIN and t.unit == "nats/char" and math.isfinite(TASKS[CHARLM].chance_loss)
    assert MIN_STEPS <= ML.baseline(CHARLM)["steps"] <= TASKS[CHARLM].max_steps
    assert ML.baseline(DIGITS)["lr"] <= MAX_LR


def test_the_registered_domain_trains_on_this_platforms_runner():
    from pynode.research.registry import domain

    d = domain("ml")
    assert d.evaluate(DIGITS, d.baseline(DIGITS), 0) == MlDomain().evaluate(DIGITS, d.baseline(DIGITS), 0)
