"""The board's surrogate: Gower distances over any domain's JSON configs, kernel predictions on quality ranks, novelty."""

from __future__ import annotations

import math

import pytest

from pynode.research.surrogate import Space, features, predict, quality_ranks


def test_features_cover_numbers_flags_choices_lists_and_nested_maps():
    f = features({"k1": 1.2, "on": True, "stemmer": "porter", "terms": ["age", "educ"], "costs": {"ite": 2}})
    assert f == {
        "k1": 1.2,
        "on": 1.0,
        "stemmer=porter": 1.0,
        "terms∋age": 1.0,
        "terms∋educ": 1.0,
        "costs.ite": 2.0,
    }


def test_gower_distance_scales_numbers_by_range_and_logs_wide_positive_ones():
    space = Space([{"x": 0.0, "c": "a"}, {"x": 10.0, "c": "a"}, {"x": 5.0, "c": "b"}])
    assert space.distance(0, 1) == pytest.approx(0.5)  # x differs by its whole range; c=a shared
    assert space.distance(0, 2) == pytest.approx((0.5 + 1 + 1) / 3)  # c=a and c=b: one each
    wide = Space([{"r": 0.001}, {"r": 0.1}, {"r": 10.0}])  # spans 10^4: compared on a log scale
    assert wide.distance(0, 1) == pytest.approx(math.log(100) / math.log(10_000))


def test_quality_ranks_put_the_best_at_one_in_either_direction_and_share_ties():
    assert quality_ranks([3.0, 1.0, 2.0], "min") == [0.0, 1.0, 0.5]
    assert quality_ranks([3.0, 1.0, 2.0], "max") == [1.0, 0.0, 0.5]
    assert quality_ranks([1.0, 1.0, 5.0], "max") == [0.25, 0.25, 1.0]


def test_a_candidate_near_the_best_result_is_predicted_better_than_one_near_the_worst():
    board = [{"x": 0.0}, {"x": 5.0}, {"x": 10.0}]
    means = [9.0, 4.0, 0.5]  # loss falls with x
    (near_best, novelty_best), (near_worst, _) = predict(board, means, "min", [{"x": 9.5}, {"x": 0.5}])
    assert 1.0 > near_best > 0.75 > 0.25 > near_worst  # a near-copy of the best is not the best itself
    assert novelty_best == pytest.approx(0.05)
