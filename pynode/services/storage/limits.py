"""Limits of the storage service (PROTOCOL.md, storage), each with its reason."""

CHUNK_BYTES = 256 * 1024  # one chunk per response: a quarter of a frame, under a relay's 4 MiB/s burst
MAX_BLOB_BYTES = 256 * 1024 * 1024  # a zoo checkpoint is a few MB, a bundled dataset tens of MB
MAX_CHUNKS = MAX_BLOB_BYTES // CHUNK_BYTES  # 1,024 chunk hashes: a 32 KiB manifest, one frame
HASH_BYTES = 32  # SHA-256
PEER_BYTES = 32  # a peer id is its Ed25519 public key

DEFAULT_REPLICAS = 3  # holders per blob: survives two departures between upkeep rounds
MAX_REPLICAS = 8  # a request for more copies than this is refused (it would only cost the holders)
DEFAULT_CAPACITY_BYTES = 2 * 1024 * 1024 * 1024  # what a CPython node keeps by default: 2 GiB of its disk
TAB_CAPACITY_BYTES = 64 * 1024 * 1024  # a tab keeps blobs in memory: a share a phone can spare
PEER_SHARE = 4  # one peer may fill at most 1/PEER_SHARE of a holder's capacity (its quota)

DEFAULT_TTL_S = 7 * 24 * 3600  # a blob lives a week unless its owner stores it again
MIN_TTL_S = 60  # shorter is not storage
MAX_TTL_S = 90 * 24 * 3600  # a holder promises at most a season; the owner renews

MAX_PENDING_PER_PEER = (
    4  # offers from one peer that we are still pulling: one peer cannot queue our bandwidth
)
MAX_PENDING = 16  # pulls in progress at once, all peers
MAX_HAS_BLOBS = 256  # blob ids in one `has` probe: an upkeep round of a busy holder
PROOF_CHUNKS = (
    4  # chunks per storage proof: catches a holder missing a quarter of them with p ≈ 0.68 each time
)
SEED_BYTES = 32  # a proof's seed, picked by the challenger
PROOFS_PER_MIN = 30  # proofs one peer may ask of us a minute: an honest holder asks 2 per 10 s upkeep round
PROOF_BURST = 10  # ...and at once (several blobs in common with us in one round)

FETCH_WINDOW = 4  # chunk requests in flight per fetch, spread over the holders
REQUEST_TIMEOUT_S = 15.0  # one chunk (256 KiB) through a loaded relay
EXCLUDE_S = 3600.0  # a holder that failed a proof or sent a bad chunk holds nothing for us for this long
UPKEEP_INTERVAL_S = 10.0  # how often a holder checks its blobs' placement, replicas and proofs
CONFIRMED_TTL_S = 60.0  # a holder's "I have it" counts this long before it is probed again
MAX_CHALLENGES = 2  # proofs asked per upkeep round (each reads 4 chunks on both sides): a sample each time
MAX_OFFER_HOLDERS = 8  # holders an offer names for the pull: enough to spread it, bounded to parse
