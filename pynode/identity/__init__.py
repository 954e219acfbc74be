"""Node identity: an Ed25519 key whose public half is the peer id."""

from pynode.identity.keys import PEER_ID_BYTES, Identity, parse_peer_id, peer_id_text, short_id

__all__ = ["PEER_ID_BYTES", "Identity", "parse_peer_id", "peer_id_text", "short_id"]
