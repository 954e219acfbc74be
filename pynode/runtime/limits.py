"""Limits of the runtimes, each with its reason."""

KEPT = 256  # accepted messages whose handler has not run yet; more would mean handlers are not being called
FETCH_TIMEOUT_S = 20.0  # a DiLoCo late joiner's wait for one answer of the state fetch before giving up on it
SHARED_STATES = 3  # DiLoCo outer states a node shares through storage: the ones a certificate may still name
SHARED_STATE_TTL_S = 600  # a shared state is a cache for late joiners: ten minutes, then it may go
