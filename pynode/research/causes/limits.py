"""Limits and fixed terms of the causes domain, each with its reason. Configs come from peers and LLMs."""

MAX_CHOICE_CHARS = 32  # every enum value (an estimator's name) is a short name; longer text is refused unread
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
# Covariate terms per model. A logistic fit costs their square: at 30 on the 16k-row CPS sample, about 5 s from
# scratch (once per model, then cached) and 2 s per bootstrap seed.
MAX_TERMS = 30
MAX_TERM_CHARS = 40  # the longest term ("smokeintensity*smokeyrs") is 23 characters
OLS_RIDGE = 1e-3  # outcome-model penalty (standardised): a constant or duplicate column stays solvable
# Propensity coefficient vectors kept, per (sample or bootstrap resample, model): at most 31 floats each (< 2 MB
# in all), enough for every model a long campaign fits (the benchmark's 10 repetitions fit ~2,000), so a config that
# keeps its propensity model never refits it and the full-sample warm start is fitted once per model
FITS_CACHE = 4096
RESAMPLES_CACHE = (
    16  # bootstrap resamples kept: every seed of both tasks (5 each), ~0.5 MB each on the CPS sample
)
