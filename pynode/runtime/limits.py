"""Limits of the runtimes, each with its reason."""

KEPT = 256  # accepted messages whose handler has not run yet; more would mean handlers are not being called
FETCH_TIMEOUT_S = 20.0  # a DiLoCo late joiner's wait for one answer of the state fetch before giving up on it
