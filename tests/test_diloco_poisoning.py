"""Poisoning: Byzantine peers among five, colluding. A delta moving θ further than its claimed steps can is refused
whatever the aggregation; within their claims, robust aggregation trims a colluding pair away where the mean
follows it. (Numbers: the issue 15 report; `python` on this module's `final_loss` reproduces them.)"""

import pytest

from pynode.sim.diloco import DilocoSimulation, Tamper, scaled_attack
from pynode.train.diloco import RunSpec

ROUNDS, H, K = 6, 15, 5


def final_loss(aggregation: str, tamper: Tamper | None = None, byzantine: int = 0) -> float:
    run = RunSpec(task="charlm-tiny", seed=4, H=H, aggregation=aggregation, min_peers=K)
    tampers = {K - 1 - i: tamper for i in range(byzantine)} if tamper else None
    local = DilocoSimulation(run, K, tampers=tampers)
    local.rounds(ROUNDS)
    return local.val_loss(0)


@pytest.fixture(scope="module")
def honest() -> float:
    return final_loss("mean")


def test_a_pair_sending_eight_times_their_pseudo_gradient_uphill_is_refused_even_by_the_mean(honest):
    mean = final_loss("mean", scaled_attack(-8.0), byzantine=2)
    print(f"honest {honest:.4f} · mean under a ×-8 pair {mean:.4f}")
    assert mean <= 1.03 * honest  # what is left is three honest deltas instead of five


def test_robust_aggregation_trims_a_colluding_pair_within_its_claims_where_the_mean_follows_it(honest):
    flip = scaled_attack(-1.0)  # uphill, as far as honest steps go: inside the claimed-steps bound
    robust, mean = final_loss("robust", flip, byzantine=2), final_loss("mean", flip, byzantine=2)
    print(f"honest {honest:.4f} · robust {robust:.4f} · mean {mean:.4f}")
    assert robust <= 1.10 * honest < mean
