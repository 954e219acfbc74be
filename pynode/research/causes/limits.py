"""Limits and fixed terms of the causes domain, each with its reason. Configs come from peers and LLMs."""

MAX_CHOICE_CHARS = 32  # every enum value (an estimator's name) is a short name; longer text is refused unread
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
# Covariate terms per model. A logistic fit costs their square: at 30 on the 16k-row CPS sample, about 5 s from
# scratch (once per model, then cached) and 2 s per bootstrap seed.
MAX_TERMS = 30
MAX_TERM_CHARS = 40  # the longest term ("smokeintensity*smokeyrs") is 23 characters
OLS_RIDGE = 1e-3  # outcome-model penalty (standardised): a constant or duplicate column stays solvable
RESULTS_CACHE = 16  # full-sample propensity fits kept (warm starts for every seed of configs sharing a model)
RESAMPLES_CACHE = (
    16  # bootstrap resamples kept: every seed of both tasks (5 each), ~0.5 MB each on the CPS sample
)
# Propensity logits kept per (resample, model): a campaign's worth of configs (~24 × 5 seeds), each an array of
# ~10k doubles on the CPS sample (80 kB; 10 MB in all), shared by every config that keeps its propensity model
LOGITS_CACHE = 128
