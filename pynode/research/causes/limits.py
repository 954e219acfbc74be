"""Limits and fixed terms of the causes domain, each with its reason. Configs come from peers and LLMs."""

MAX_CHOICE_CHARS = 32  # every enum value (an estimator's name) is a short name; longer text is refused unread
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
MAX_TERMS = (
    30  # covariate terms per model: a logistic fit's cost grows with their square (~2 s per seed at 30)
)
MAX_TERM_CHARS = 40  # the longest term ("smokeintensity*smokeyrs") is 23 characters
OLS_RIDGE = (
    1e-3  # penalty on the standardised outcome coefficients: a constant or duplicate column stays solvable
)
RESULTS_CACHE = 16  # configs whose full-sample designs and fits stay cached (their seeds share them)
