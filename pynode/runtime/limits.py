"""Limits of the runtimes, each with its reason."""

from pynode.state.limits import MAX_EVIDENCE_CHANGE_BYTES, MAX_EVIDENCE_KEPT

KEPT = 256  # accepted messages whose handler has not run yet; more would mean handlers are not being called
FETCH_TIMEOUT_S = 20.0  # a DiLoCo late joiner's wait for one answer of the state fetch before giving up on it
SHARED_STATES = 3  # DiLoCo outer states a node shares through storage: the ones a certificate may still name
SHARED_STATE_TTL_S = 600  # a shared state is a cache for late joiners: ten minutes, then it may go
MAX_EVIDENCE_FILE = (
    2 * MAX_EVIDENCE_KEPT * MAX_EVIDENCE_CHANGE_BYTES
)  # a replica's saved proofs: all it keeps
# units of a state check (a record checked, a signature verified: pynode/state/slices.py) between two turns of a
# node's event loop: ~20-50 ms of CPython, so pings and gossip keep flowing while a cold start is validated
STATE_SLICE_UNITS = 256
SENT_LOG_MAX_BYTES = (
    8 * 1024 * 1024
)  # of a sent log read at start: twice what the router may hold (MAX_HELD_BYTES)
SENT_LOG_COMPACT_EVERY = (
    256  # appends between two rewrites of a sent log down to the messages still young enough
)
