"""The review protocol's parameters, each with its reason. Every node must use the same values: they decide who
is drawn, which reviews count and what a breakthrough is (docs/REVIEW.md lists them)."""

from fractions import Fraction

COMMITTEE_K = 5  # expected committee size per epoch: enough for a quorum after a decline or two
EPOCH_MS = 30_000  # sortition epochs are wall-clock slots of this length (epoch = ts // EPOCH_MS)
WINDOW_EPOCHS = 4  # a result is reviewed in its own epoch and the next three: a deadline 90–120 s after it
SETTLE_MS = 10_000  # a drawn reviewer starts this long after the result: its paper and the board arrive first
QUORUM = 3  # counting reviews a result needs before it can be a breakthrough
MIN_REPRODUCED = 2  # of them, at least this many must have reproduced it
BREAKTHROUGH_SCORE = 8  # the weighted median score a breakthrough needs (1–10)
MAX_COUNTED = 3 * COMMITTEE_K  # a disputed result's committee grows to this many reviews, then stops
SIGNIFICANCE = 0.05  # a breakthrough beats the task's best established result with p below this
MIN_WEIGHT = Fraction(1, 2)  # a reviewer whose weight fell below this no longer counts anywhere
WEIGHT_ROUNDS = 8  # weights and consensus are iterated this many times toward their fixed point
