"""DiLoCo runs that carry an inner schedule (a research config's optimiser): wire form, end, replay."""

import pytest

from pynode.research.ml import TASKS
from pynode.research.ml.schema import inner_schedule, lr_at
from pynode.sim.diloco import DilocoSimulation
from pynode.train.diloco import Diloco, RunSpec, Train, checkpoint_hash
from pynode.train.replay import replay
from pynode.train.schedule import InnerSchedule
from pynode.train.zoo import init_theta
from pynode.wire import cbor
from pynode.wire.errors import WireError

COSINE = InnerSchedule(lr=0.005, warmup=3, schedule="cosine", steps=12, weight_decay=0.01)


def spec(**kw):
    base = {
        "task": "digits-mlp",
        "seed": 1,
        "H": 5,
        "deadline_s": 10.0,
        "cert_timeout_s": 5.0,
        "inner": COSINE,
    }
    return RunSpec(**{**base, **kw})


def test_a_run_without_the_new_fields_keeps_its_wire_form_and_id():
    old = RunSpec(task="digits-mlp", seed=2, H=5, codec="int8", deadline_s=10.0, cert_timeout_s=5.0)
    assert not {"inner", "dataset", "init"} & set(old.to_wire())
    assert old.run_id.hex() == "ca45dfa81a764763a021caabfcc627e0"  # as in test_diloco_core
    assert old.rounds is None and old.steps_in(10**6) == old.H and old.hyper(7) == old.spec.hyper


def test_the_inner_schedule_and_dataset_travel_and_name_another_run():
    run = spec(task="charlm-tiny", dataset="cranfield")
    back = RunSpec.from_wire(cbor.decode(cbor.encode(run.to_wire())))
    assert back == run and back.run_id == run.run_id and back.data == "cranfield"
    assert (
        spec().run_id
        != spec(inner=None).run_id
        != spec(inner=InnerSchedule(0.005, 3, "cosine", 12, 0.02)).run_id
    )


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("lr", "nan", "bad_field"),
        ("lr", "0.0050", "bad_field"),  # not Python's repr: one float, one text
        ("lr", "0.0", "bad_field"),
        ("lr", "1e999", "bad_field"),
        ("weight_decay", "-0.1", "bad_field"),
        ("schedule", "exponential", "bad_field"),
        ("warmup", 13, "bad_field"),  # longer than the schedule
        ("steps", 0, "bad_field"),
        ("extra", 1, "bad_field"),
    ],
)
def test_a_hostile_inner_schedule_is_refused(field, value, reason):
    wire = spec().to_wire()
    wire["inner"] = {**wire["inner"], field: value}
    with pytest.raises(WireError) as e:
        RunSpec.from_wire(wire)
    assert e.value.reason == reason


def test_a_dataset_another_family_trains_on_is_not_ours():
    with pytest.raises(WireError) as e:
        RunSpec.from_wire({**spec().to_wire(), "dataset": "cranfield"})  # an MLP on text
    assert e.value.reason == "unknown_task"


def test_the_schedule_is_the_research_configs_step_for_step():
    config = {**TASKS["digits-mlp"].baseline, "lr": 0.01, "warmup": 10, "schedule": "linear", "steps": 110}
    inner = inner_schedule(config)
    run = spec(inner=inner, H=25)
    assert [run.hyper(s).lr for s in range(110)] == [lr_at(config, s) for s in range(110)]
    assert run.peak_hyper.lr == 0.01 and run.hyper(0).weight_decay == config["weight_decay"]
    assert run.rounds == 5 and [run.steps_in(r) for r in range(6)] == [25, 25, 25, 25, 10, 0]


def test_a_run_with_a_schedule_trains_its_steps_and_ends():
    run = spec()  # 12 steps in rounds of 5: 5, 5, 2
    me = b"\x01" * 32
    core = Diloco(me, run, me)
    jobs = [o for o in core.start(0.0) if isinstance(o, Train)]
    assert [(j.round, j.steps, j.offset) for j in jobs] == [(0, 5, 0)]
    assert not core.finished


def test_a_replay_from_the_certified_contributors_is_the_run_bit_for_bit():
    run = spec(codec="int8")
    sim = DilocoSimulation(run, 2)
    sim.rounds(run.rounds)
    cores = [w.core for w in sim.workers]
    assert all(c.finished for c in cores) and len({c.state.digest() for c in cores}) == 1
    history = cores[0].history
    assert [len(d.contributors) for d in history] == [2, 2, 2]
    per_batch = run.spec.tokens_per_batch()
    rounds = [[(p, s // per_batch) for p, s in sorted(d.contributors)] for d in history]
    assert [s for _, s in rounds[-1]] == [2, 2]  # the last round trains what is left of the schedule
    assert replay(run, rounds).digest() == cores[0].state.digest()
    # a history that leaves a peer out of a round is another run: its θ differs
    assert replay(run, [rounds[0], rounds[1][:1], rounds[2]]).digest() != cores[0].state.digest()
    with pytest.raises(ValueError):
        replay(run, rounds[:2])
    with pytest.raises(ValueError):
        replay(run, [rounds[0], rounds[1], [(p, 3) for p, _ in rounds[2]]])  # more than the round allows


def test_a_run_from_a_checkpoint_replays_only_from_that_checkpoint():
    checkpoint = init_theta(spec().spec, 7)
    run = spec(codec="int8", init=checkpoint_hash(checkpoint))
    sim = DilocoSimulation(run, 2, theta0=checkpoint)
    sim.rounds(run.rounds)
    per_batch = run.spec.tokens_per_batch()
    rounds = [[(p, s // per_batch) for p, s in sorted(d.contributors)] for d in sim.workers[0].core.history]
    assert replay(run, rounds, theta0=checkpoint).digest() == sim.workers[0].core.state.digest()
    with pytest.raises(ValueError, match="not given"):
        replay(run, rounds)
    with pytest.raises(ValueError, match="not checkpoint"):
        replay(run, rounds, theta0=init_theta(run.spec, run.seed))
