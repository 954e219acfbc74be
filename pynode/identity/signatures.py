"""Keys and signatures through the platform seam: the only way a core gets at keys or verification.

pynode.identity is the core package that reaches `pynode.platform.current()` (here; vrf.py for its group);
the only other core call is train/runner.open_runner's, for model runners. Whatever signs is handed a `Signer`
(an `Identity`'s); whatever verifies — envelopes, relay hellos, handshakes, state records and changes — calls
`verify` from here, or is handed it when it sits below identity (wire/ takes a `Verify` argument). So the
platform imports no core above wire, and a core's tests run on the real platform without any global set-up.

Every function is async because the browser's key import, key storage (IndexedDB) and verification
(WebCrypto) are; CPython answers at once.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable

from pynode.platform import current
from pynode.wire.signing import Signer

SEED_BYTES = 32


async def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification (RFC 8032); False for anything malformed, never an exception."""
    return await current().verify(public_key, message, signature)


def verify_later(checks: list[tuple[bytes, bytes, bytes]]) -> Awaitable[list[bool]]:
    """`verify` of each (public key, message, signature), started now and answered, in order, when awaited:
    the browser verifies on WebCrypto's own thread (one crossing per batch) while the caller goes on."""
    return current().verify_later(checks)


async def load_signer(seed: bytes) -> Signer:
    """The key of a 32-byte Ed25519 seed: the same seed signs identically on every platform."""
    return await current().load_signer(seed)


def new_seed() -> bytes:
    """A fresh random key seed, kept nowhere."""
    return current().random_bytes(SEED_BYTES)


async def load_or_create_seed(place: str | os.PathLike[str]) -> bytes:
    """The 32-byte key seed kept at `place`, created on first use: a data directory in CPython (a 0600 key file
    in it), an IndexedDB entry name in the browser."""
    return await current().load_or_create_seed(os.fspath(place))
