"""Limits of the capability services (PROTOCOL.md §11), each with its reason.

A service's own limits (request size, rate, concurrency) are in its `ServiceSpec` and advertised in the
node's profile; these are the framework's bounds that no spec may exceed, and its timings.
"""

from pynode.wire.limits import MAX_FRAME_BYTES

SERVICE_PROTO_PREFIX = "hs/1/svc/"  # a service named NAME answers requests on protocol hs/1/svc/NAME
MAX_SERVICE_NAME = 32  # a capability name is a short slug (the profile's caps obey MAX_CAPABILITY_LEN too)
MAX_METHOD_LEN = 32  # a method name is a short identifier, not a payload
MAX_REQUEST_BYTES = MAX_FRAME_BYTES - 1024  # a request's data under one req frame (its framing is small)
MAX_REPLY_BYTES = MAX_FRAME_BYTES - 1024  # one unary answer or one stream chunk, under one resp frame
MAX_CHUNK_ITEMS = 256  # items one stream pull returns: bounds the work of decoding a chunk
STREAM_BUFFER_BYTES = 256 * 1024  # what a producer may run ahead of its puller before it waits (backpressure)
# A stream nobody pulled for this long is cancelled. Generous: a departed requester is caught sooner (LEFT_GRACE_S),
# and a busy tab may take many seconds to get to a pull that has arrived.
STREAM_IDLE_S = 60.0
PULL_WAIT_S = 5.0  # a pull waits this long for the next item, then answers an empty chunk (keeps it alive)
CALL_TIMEOUT_S = 30.0  # a unary call or one pull is abandoned by the server after this (spec may lower it)
STREAM_MAX_S = 300.0  # a stream's whole lifetime on the server: no request holds a slot for ever
MAX_TRACKED_PEERS = 4096  # per-peer quota states kept; beyond it the longest-idle one is forgotten
PEER_STATS_TTL_S = 600.0  # a client forgets a server's latency and load after this (it may have changed)
CLIENT_ATTEMPTS = 3  # peers a client tries for one call before it gives up
LATENCY_PRIOR_S = 0.2  # assumed latency of a peer never measured: it gets tried, but after known-fast ones
FAILURE_COOLDOWN_S = 30.0  # a peer that failed us is ranked last for this long
TICK_S = 0.5  # how often the runtime expires idle streams and notices departed requesters

# ---- inference (services/inference.py) --------------------------------------------------------------------
MAX_PROMPT_CHARS = 4000  # a prompt longer than this is refused: the char-LM reads only its last 32 anyway
MAX_COMPLETION_TOKENS = 1024  # characters one completion may generate: ~1-5 s of a tab's work
MAX_TEMPERATURE_MILLI = 5000  # temperature ≤ 5: beyond it sampling is uniform noise
MAX_DIGITS_IMAGES = 64  # images per classify call: one batch of the digits graph
INFERENCE_REQUEST_BYTES = 16 * 1024  # a prompt in UTF-8 or 64 images of 64 bytes, with room to spare
BOARD_CHECK_S = 120.0  # how often an inference host looks for a better char-LM on the ml board

# ---- proxy (services/proxy.py) ------------------------------------------------------------------------------
MAX_PROXY_URL = 2048  # longer URLs are refused: no API endpoint needs more
MAX_PROXY_HEADERS = 32  # request headers a requester may set (filtered further: no hop-by-hop, no auth)
MAX_PROXY_HEADER_LEN = 1024  # one header's name + value
MAX_PROXY_BODY = 256 * 1024  # a request body forwarded upstream: an LLM prompt with context fits
MAX_PROXY_RESPONSE = 4 * 1024 * 1024  # bytes of one upstream response relayed back; beyond, the stream fails
PROXY_CHUNK = 64 * 1024  # one streamed piece of an upstream response
PROXY_BYTES_PER_HOUR = 64 * 1024 * 1024  # response bytes one requester may pull through this node per hour
PROXY_TIMEOUT_S = 60.0  # connect + each read upstream: an LLM may think for a while
LEFT_GRACE_S = (
    2.0  # a requester gone this long has left: a circuit upgraded to a data channel comes back sooner
)
