"""Limits and fixed terms of the finance domain, each with its reason. Configs come from peers and LLMs."""

MAX_CHOICE_CHARS = 32  # every enum value (a strategy family) is a short name; longer text is refused unread
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
MAX_WINDOW = 250  # longest look-back in days: one year, which the 1999 warm-up year covers before validation
COST_BPS = 5.0  # one-way cost per unit of turnover: an index future or ETF's spread plus slippage, set by the
# task (never by the config, or a strategy would simply trade for free)
TRADING_DAYS = 252  # annualisation of daily mean and volatility
BLOCK_DAYS = 21  # bootstrap block: one trading month keeps volatility clustering and short autocorrelation
RESULTS_CACHE = 64  # configs whose backtests stay cached (the n resamples of one config share one backtest)
