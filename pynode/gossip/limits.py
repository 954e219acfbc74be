"""The router's own limits, each with its reason; the RPC wire limits are in `pynode/wire/limits.py`."""

MAX_TOPICS_PER_PEER = 256  # subscriptions we track for one peer; more is a memory attack, not a use
MAX_BACKOFF_S = 24 * 3600  # a PRUNE's backoff, at most a day: longer would only serve to silence a topic
DELIVERY_RECORD_TTL = 120.0  # seconds we remember who delivered a message (go-libp2p's TimeCacheDuration)
