"""Limits of the search domain, each with its reason. Configs come from peers and LLMs: hostile input."""

MAX_CHOICE_CHARS = (
    32  # every enum value (stemmer, stopword list) is a short name; longer text is refused unread
)
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
RESULTS_CACHE = 64  # configs whose per-query scores stay cached (the n seeds of one config share one ranking)
K = 10  # NDCG@10: the cutoff of the task's metric
