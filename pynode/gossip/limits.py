"""The router's own limits, each with its reason; the RPC wire limits are in `pynode/wire/limits.py`."""

MAX_TOPICS_PER_PEER = 256  # subscriptions we track for one peer; more is a memory attack, not a use
MAX_BACKOFF_S = 24 * 3600  # a PRUNE's backoff, at most a day: longer would only serve to silence a topic
DELIVERY_RECORD_TTL = 120.0  # seconds we remember who delivered a message (go-libp2p's TimeCacheDuration)
# IWANT answers to one peer per heartbeat: two maximal messages. 384 bytes of IWANT for twelve 1 MiB messages
# otherwise cost 12 MiB (×3 retransmissions) of our relay budget, and got honest nodes cut off
MAX_IWANT_BYTES = 2 * 1024 * 1024
