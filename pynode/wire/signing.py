"""The signing interface every signed format uses: a `Signer` (a private key) and a `Verify` function.

wire/ defines signed formats and takes both as arguments, so it depends on nothing else in pynode: the platform
implements them (PyNaCl in CPython, WebCrypto in the browser) and `pynode.identity` hands them out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class Signer(Protocol):
    """An Ed25519 private key. Signing is async because WebCrypto's is."""

    public_key: bytes

    async def sign(self, message: bytes) -> bytes: ...


Verify = Callable[[bytes, bytes, bytes], Awaitable[bool]]  # (public key, message, signature) → valid?
