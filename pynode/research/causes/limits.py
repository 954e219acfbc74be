"""Limits and fixed terms of the causes domain, each with its reason. Configs come from peers and LLMs."""

MAX_CHOICE_CHARS = 32  # every enum value (an estimator's name) is a short name; longer text is refused unread
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
# Covariate terms per model. A logistic fit costs their square: at 30 on the 16k-row CPS sample, about 5 s from
# scratch (once per model, then cached) and 2 s per bootstrap seed.
MAX_TERMS = 30
MAX_TERM_CHARS = 40  # the longest term ("smokeintensity*smokeyrs") is 23 characters
OLS_RIDGE = 1e-3  # outcome-model penalty (standardised): a constant or duplicate column stays solvable
RESULTS_CACHE = 16  # full-sample propensity fits kept (warm starts for every seed of configs sharing a model)
