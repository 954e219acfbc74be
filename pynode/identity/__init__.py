"""Node identity: an Ed25519 key whose public half is the peer id, and signature verification.

This is the core package that reaches the platform seam (signatures.py, vrf.py); see signatures.py for why.
"""

from pynode.identity.keys import PEER_ID_BYTES, Identity, parse_peer_id, peer_id_text, short_id
from pynode.identity.signatures import verify, verify_later
from pynode.wire.signing import Signer, Verify

__all__ = [
    "PEER_ID_BYTES",
    "Identity",
    "Signer",
    "Verify",
    "parse_peer_id",
    "peer_id_text",
    "short_id",
    "verify",
    "verify_later",
]
