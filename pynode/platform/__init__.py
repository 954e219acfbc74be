"""The only seam between CPython and the browser.

Everything outside this package asks `current()` for a signer, signature verification, randomness and key
storage; it never imports `nacl`, `js`, `aiortc` or `loro` itself.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Protocol


class Signer(Protocol):
    """An Ed25519 private key. Signing is async because WebCrypto's is."""

    public_key: bytes

    async def sign(self, message: bytes) -> bytes: ...


def in_browser() -> bool:
    return sys.platform == "emscripten"


def current() -> ModuleType:
    """The platform module for where this process runs (`native` or `browser`)."""
    if in_browser():
        from pynode.platform import browser

        return browser
    from pynode.platform import native

    return native
