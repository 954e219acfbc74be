"""Poisoning: one Byzantine peer of four. Robust aggregation keeps the honest loss; the plain mean does not."""

import pytest

from pynode.sim.diloco import DilocoSimulation, garbage_attack, scaled_attack
from pynode.train.diloco import RunSpec

ROUNDS, H = 6, 15


def final_loss(aggregation, tamper=None):
    run = RunSpec(task="charlm-tiny", seed=4, H=H, aggregation=aggregation, min_peers=4)
    local = DilocoSimulation(run, 4, tampers={3: tamper} if tamper else None)
    local.rounds(ROUNDS)
    return local.val_loss(0)


@pytest.fixture(scope="module")
def honest():
    return final_loss("mean")


@pytest.mark.parametrize(
    "attack", [scaled_attack(-8.0), garbage_attack(scale=1.0)], ids=["scaled", "garbage"]
)
def test_robust_aggregation_holds_the_honest_loss_where_the_mean_does_not(honest, attack):
    robust = final_loss("robust", attack)
    mean = final_loss("mean", attack)
    print(f"honest {honest:.4f} · robust {robust:.4f} · mean {mean:.4f}")
    assert robust <= 1.05 * honest
    assert mean > 1.05 * honest
