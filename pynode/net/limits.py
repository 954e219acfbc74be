"""Limits and timings of peer connections (PROTOCOL.md §2, §3, §4, §6.2), each with its reason.

The wire-format limits every frame obeys (frame size, nesting, list lengths) are in `pynode/wire/limits.py`;
these are the ones of the connection layer: the relay session, handshakes, requests, bans and direct links.
"""

# ---- relay connection (§2) ------------------------------------------------------------------------------
HELLO_MAX_SKEW_MS = (
    60_000  # a hello stamped further than this from the relay's clock is refused (replay window)
)
MAX_WELCOME_PEERS = 1000  # a welcome names at most this many peers: enough to fill any node's target_peers
MAX_ERROR_CODE_LEN = 32  # an `error` code is a short identifier, not prose
HELLO_TIMEOUT_S = 10.0  # a node gives up on a relay that does not challenge and welcome it within this
BACKOFF_MIN_S = 0.25  # first reconnection delay: a relay restart costs a quarter second
BACKOFF_MAX_S = 10.0  # longest reconnection delay: a relay that is down is not hammered
HEALTHY_SESSION_S = 30.0  # a relay session longer than this resets the backoff (it was not a flapping relay)

# What a node sends its relay, paced below the relay's per-peer buckets (defaults in PROTOCOL.md §6.3:
# 4 MiB/s with an 8 MiB burst, 200 frames/s with a burst of 400), so forwarding, answering IWANTs or serving a
# cold start never gets an honest node cut off. Margins absorb frames that bunch up in socket buffers.
RELAY_SEND_BYTES_PER_S = 3 * 1024 * 1024  # three quarters of the relay's refill
RELAY_SEND_BYTES_BURST = 4 * 1024 * 1024  # half the relay's burst
RELAY_SEND_FRAMES_PER_S = 150.0  # three quarters of the relay's refill
RELAY_SEND_FRAMES_BURST = 200  # half the relay's burst
RELAY_SEND_MAX_DELAY_S = 4.0  # a frame booked further ahead is dropped (gossip repairs it, a request retries)

# ---- relay federation (§2.11) -------------------------------------------------------------------------------
MAX_RELAY_URL_LEN = 256  # characters in a relay's /p2p URL: a host name and a path, not a payload
MAX_DIR_RELAY_URLS = 32  # relay URLs one directory may name for discovery: a federation's bootstrap list
MAX_DIR_ENTRIES_PER_FRAME = 1000  # entries added or removed by one `dir` (~200 KB: well under a frame)
MAX_DIR_PEERS = 20_000  # peers one relay may list: twice a relay's default max_peers; more is a flood
MAX_FED_LINKS = 32  # federated relays linked at once: routing state and directories grow with each
DIR_TTL_MS = 60_000  # a directory's routes expire this long after it was sent unless refreshed
DIR_REFRESH_S = 20.0  # a relay re-signs its directory (an empty update) this often: three tries per TTL
DIR_FLUSH_S = 0.1  # a relay batches its peers' arrivals and departures this long into one signed update
DIR_MAX_SKEW_MS = 30_000  # a directory may claim to expire this much beyond now + DIR_TTL_MS (clock skew)
DIR_UPDATES_PER_S = 20.0  # `dir` frames one link may send per second on average (a full list is 20 frames)…
DIR_UPDATES_BURST = 40  # …and at once: more is a directory flood and cuts the link
UNROUTABLE_HOPS_PER_S = 20.0  # hops to peers not hosted here a link may send per second (a peer that just
UNROUTABLE_HOPS_BURST = 100  # left races its `del`); beyond, they are circuits to nowhere and cut the link
FED_BAN_S = 600.0  # a relay cut off for breaking a federation rule may not link again for this long
FED_INTRODUCED_PER_PEER = 256  # remote peers the relay introduces to one of its peers (`join`) and remembers
RELAY_SWITCH_DELAY_S = 0.1  # a node whose relay died tries the next one after this (a jitter of up to 2x)

# ---- peer connections (§3) ------------------------------------------------------------------------------
HANDSHAKE_TIMEOUT_S = 10.0  # a half-open handshake holds a circuit and a nonce: drop it after this
HS1_MAX_BYTES = 128  # an hs1 is 86 bytes; anything longer is not one, whatever it decodes to
RECV_QUEUE_FRAMES = 256  # a peer that floods faster than we read is cut off rather than buffered forever
OUTBOX_FRAMES = 1024  # our frames queued for one peer; beyond it they are dropped (gossip repairs the loss)
OUTBOX_BYTES = 8 * 1024 * 1024  # the same in bytes: 1024 maximal frames would be a gigabyte per peer
BAN_S = 60.0  # a peer that sent garbage is not talked to for this long
MAINTAIN_INTERVAL_S = 1.0  # how often a node dials towards target_peers and picks peers to go direct with

# ---- requests and responses (§3.4) ----------------------------------------------------------------------
MAX_PROTO_LEN = 64  # characters in a request's protocol name
MAX_INFLIGHT_PER_PEER = 32  # requests one peer may have us serve at once; more are refused as "busy"
MAX_REASON_BYTES = 256  # a refusal's reason is for people and logs, not a payload
REQUEST_TIMEOUT_S = 10.0  # default time an asker waits for a response

# ---- direct connections (§4) ----------------------------------------------------------------------------
RTC_TIMEOUT_S = (
    15.0  # an offer must be answered and its channel open within this (non-trickle ICE on loopback: <1 s)
)
RTC_RETRY_S = 30.0  # after a failed WebRTC upgrade, wait this long before offering to that peer again
CHUNK_BYTES = (
    64 * 1024
)  # frame bytes per data-channel message: under every stack's message cap (aiortc 256 KiB)
HIGH_WATER_BYTES = 1024 * 1024  # pause sending while this much waits in the SCTP buffer (flow control)
MAX_FINGERPRINTS = 8  # DTLS fingerprints bound per side: one per certificate hash (aiortc lists three)
MAX_FINGERPRINT_LEN = 200  # "sha-512 " + 64 hex pairs with colons is 199 characters
