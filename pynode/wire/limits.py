"""Hard limits on everything that arrives from the network, enforced before (or while) decoding.

Precedents: libp2p GossipSub caps an RPC at 1 MiB (go-libp2p-pubsub DefaultMaxMessageSize) and IHAVE at
5000 ids (max_ihave_length); WebRTC data channels carry at most 256 KiB per message in aiortc (we chunk).
"""

MAX_FRAME_BYTES = 1024 * 1024  # one decoded frame, any transport
MAX_DEPTH = 8  # nesting of CBOR containers; our deepest frame uses 5
MAX_TOPIC_LEN = 128
MAX_DATA_BYTES = MAX_FRAME_BYTES - 4096  # payload of one gossip message, leaving room for the envelope
MAX_SUBSCRIPTIONS_PER_RPC = 64
MAX_MESSAGES_PER_RPC = 256
MAX_IHAVE_IDS = 5000  # GossipSub max_ihave_length
MAX_IWANT_IDS = 5000
MAX_CONTROL_TOPICS = 64  # topics named in one RPC's GRAFT / PRUNE / IHAVE lists
MAX_PX_PEERS = 16
MAX_CAPABILITIES = 16
MAX_CAPABILITY_LEN = 32
MAX_SIGNAL_BYTES = 64 * 1024  # an SDP offer/answer with its candidates
MAX_ERROR_TEXT = 256
MAX_CLOCK_SKEW_MS = 30_000  # a message stamped further in the future than this is refused
MAX_MESSAGE_AGE_MS = 120_000  # a message stamped further in the past than this is refused (a possible replay)
# One message is acceptable from ts - skew to ts + age of a receiver's clock: the seen cache must remember it
# that long (GossipParams.seen_ttl), or a replay after the cache forgot it but before it went stale delivers twice.
FRESHNESS_WINDOW_MS = MAX_CLOCK_SKEW_MS + MAX_MESSAGE_AGE_MS
MSG_ID_BYTES = 32
NONCE_BYTES = 32
MAX_RELAY_FRAME_BYTES = MAX_FRAME_BYTES + 512  # a relay message wraps one peer frame
