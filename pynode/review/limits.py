"""Limits of the review tier, each with its reason. Review records are hostile input like any other."""

MAX_VALIDATORS = 100_000  # n in the sortition threshold: profiles cost nothing, so their count is capped
MAX_PENDING = 512  # results a reviewer keeps watching for a draw; older ones are dropped first
MAX_QUEUE = (
    4  # assignments waiting for this node's CPU; a drawn reviewer declines beyond this (top-up covers)
)
MAX_COMMITTEES = 64  # validator sets remembered per (first epoch, profiles held): recomputed when evicted
MAX_COMMENT = 2000  # a review's comment (the record schema's bound)
BASELINE_CACHE = 64  # (domain, task, seeds) whose baseline samples a reviewer keeps: a few per task
MAX_VERIFIED = 16_384  # review tickets a reviewer remembers having checked (a top-up decision verifies them)
REFERENCE_CACHE = 256  # parents' configs a reviewer keeps the measured samples of (children share parents)
MAX_CRITIQUE = (
    1200  # characters of an LLM's reply kept in a review's comment (the rest of it is the rubric's notes)
)
MAX_PAPER_SHOWN = (
    4000  # characters of the paper shown to the critique model (its context is not ours to fill)
)
