"""The signed wire: deterministic CBOR, envelopes, frames and the limits enforced on them."""

from pynode.wire.envelope import Envelope, sign_envelope, verify_envelope
from pynode.wire.errors import WireError
from pynode.wire.signing import Signer, Verify

__all__ = ["Envelope", "Signer", "Verify", "WireError", "sign_envelope", "verify_envelope"]
