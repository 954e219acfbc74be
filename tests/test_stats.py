import pytest

from pynode.stats import percentile


@pytest.mark.parametrize(
    "values, q, expected",
    [
        ([3, 1, 2], 50, 2),
        ([1, 2, 3, 4], 50, 2),  # nearest rank: the 2nd of 4, never an average
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 100, 100),
        ([5], 1, 5),
        ([4, 1], 0, 1),
    ],
)
def test_nearest_rank_percentile(values, q, expected):
    assert percentile(values, q) == expected


def test_no_values_give_the_default():
    assert percentile([], 50) is None
    assert percentile([], 99, 0.0) == 0.0
