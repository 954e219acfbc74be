"""Limits of the presence tier, each with its reason. Pulse messages and certificates are hostile input.
A certificate's own bounds are the state's (its record schema, pynode/state/limits.py)."""

from pynode.state.limits import (
    MAX_CERTIFICATE_BYTES,
    MAX_CERTIFICATE_COSIGS,
    MAX_CERTIFICATE_PARTICIPANTS,
    MAX_CERTIFICATE_STRIKES,
    MAX_STRIKE_EVIDENCE_BYTES,
)

MAX_PARTICIPANTS = MAX_CERTIFICATE_PARTICIPANTS  # commitments a leader takes: all must fit its certificate
MAX_STRIKES = MAX_CERTIFICATE_STRIKES
MAX_EVIDENCE_BYTES = MAX_STRIKE_EVIDENCE_BYTES
MAX_COSIGS = MAX_CERTIFICATE_COSIGS
MAX_PULSE_MESSAGE = 512  # a pulse is ~230 bytes
MAX_REVEAL_MESSAGE = 2_048  # 4 rows of 64 bytes with 4 Merkle paths of 4 hashes: ~1 KiB
MAX_COSIGN_MESSAGE = 256
MAX_ORIGIN_MESSAGE = 256  # a relay's attestation: peer id, origin hash, expiry, signature
MAX_CHALLENGE_MESSAGE = 96 * 1024  # commitments of MAX_PARTICIPANTS peers (peer id + root: ~68 B each)
MAX_DRAFT_MESSAGE = 96 * 1024  # participants' peer ids + strikes with their evidence
MAX_CERT_MESSAGE = MAX_CERTIFICATE_BYTES  # a certificate record carried on the pulse topic
MAX_ROUNDS_KEPT = 3  # rounds whose messages a node keeps (the current one, and late messages of the last)
MAX_CHALLENGES = 1 + 2  # leaders per round a node answers: the first and its backups

# ---- which certificates the chain pays for (admission.py) ----------------------------------------------
CHAIN_MIN_INTERVAL_MS = 10_000  # rounds shorter than this cannot fit their takeovers (params.Timing.check)
CHAIN_LAG_MS = (
    600_000  # a leader writes its certificate within its round; ten minutes of slack for a slow write
)
CHAIN_AUTHOR_RECORDS = 1 << 18  # certificates the chain pays for one leader: every 90 s round for 9 months
CHAIN_AUTHOR_BYTES = (
    64 * 1024 * 1024
)  # their bytes, 16 author quotas: a leader's 1/n share of n-node rounds is
# ~170 B a round at any n, years of leading
POINTS_PARTS = -(
    -MAX_CERTIFICATE_PARTICIPANTS // 256
)  # points records per round: 256 awards each (the schema)
RECEIPTS_PER_EPOCH = 64  # receipts one requester publishes for an hour: servers × capabilities it used
RECEIPT_AUTHOR_RECORDS = 1 << 16  # receipts the chain pays for one requester: years at a few servers an hour
RECEIPT_AUTHOR_BYTES = 16 * 1024 * 1024  # their bytes (~200 B each): four author quotas
