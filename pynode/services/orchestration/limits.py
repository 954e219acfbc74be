"""Limits and timings of the task board (PROTOCOL.md §11, orchestration), each with its reason.

The schemas' bounds (title, spec, slots...) are the state's: `pynode/state/limits.py`.
"""

REPLY_TIMEOUT_S = 60.0  # an assigned node that neither took nor declined the task by then is replaced
GONE_GRACE_S = (
    30.0  # an assigned node absent from the network this long is replaced (a reconnect is not churn)
)
HORIZON_S = 3600.0  # a node commits at most cpu_share x this many CPU-seconds of tasks at a time
MAX_TASKS_PER_TICK = 64  # tasks one orchestrator (re)assigns per round: a flood of postings waits its turn
TICK_S = 5.0  # how often orchestrators and workers look at the board
MAX_MEMORY_MB = 1024 * 1024  # what a node may say it has (the schema's bound on what a task may ask)
