"""The router's own limits, each with its reason; the RPC wire limits are in `pynode/wire/limits.py`."""

MAX_TOPICS_PER_PEER = 256  # subscriptions we track for one peer; more is a memory attack, not a use
MAX_BACKOFF_S = 24 * 3600  # a PRUNE's backoff, at most a day: longer would only serve to silence a topic
DELIVERY_RECORD_TTL = 120.0  # seconds we remember who delivered a message (go-libp2p's TimeCacheDuration)
# IWANT answers to one peer per heartbeat: two maximal messages. 384 bytes of IWANT for twelve 1 MiB messages
# otherwise cost 12 MiB (×3 retransmissions) of our relay budget, and got honest nodes cut off
MAX_IWANT_BYTES = 2 * 1024 * 1024
# Late joiners (pynode/gossip/history.py). Kept messages share their envelopes with the message cache.
MAX_HISTORY_MESSAGES = (
    2048  # ~60 s of a busy network's topics (8 publishers at 1/s is 480): a bound on memory
)
MAX_HISTORY_BYTES = (
    8 * 1024 * 1024
)  # what a browser tab can spare; a few maximal messages or thousands of small
HISTORY_IHAVE_IDS = 512  # ids told to one newly subscribed peer per topic: 16 KiB, sent once per connection
# IWANT answers from the history (older than the message cache) to all peers together per heartbeat: however many
# identities ask, catching them up costs at most this much of our relay budget
MAX_HISTORY_SERVE_BYTES = 1024 * 1024
MAX_HELD_MESSAGES = 256  # own messages waiting for a first peer: four minutes of one message a second
MAX_HELD_BYTES = 4 * 1024 * 1024  # of those, in bytes: a few maximal messages
