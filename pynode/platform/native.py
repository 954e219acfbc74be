"""CPython implementation of the platform seam: PyNaCl Ed25519, os.urandom, key files."""

from __future__ import annotations

import os
from pathlib import Path

import nacl.exceptions
import nacl.signing

SEED_BYTES = 32
KEY_FILE = "identity.key"


class NaclSigner:
    """Ed25519 signer from a 32-byte seed (the same seed signs identically in WebCrypto)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    def sign_now(self, message: bytes) -> bytes:
        """Synchronous signing, for CPython-only callers (the simulator, benchmarks)."""
        return self._key.sign(message).signature

    async def sign(self, message: bytes) -> bytes:
        return self.sign_now(message)


def signer_from_seed(seed: bytes) -> NaclSigner:
    return NaclSigner(seed)


def verify_now(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


async def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    return verify_now(public_key, message, signature)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def load_or_create_seed(data_dir: str | os.PathLike[str]) -> bytes:
    """The node's identity seed, kept in `<data_dir>/identity.key` with mode 0600.

    The file is created atomically with O_EXCL so two processes starting at once cannot end up with
    different identities, and a key file readable by others is refused rather than silently trusted.
    """
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}") from None
        seed = path.read_bytes()
        if len(seed) != SEED_BYTES:
            raise ValueError(f"{path} is not an identity key ({len(seed)} bytes, expected {SEED_BYTES})") from None
        return seed
    seed = os.urandom(SEED_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(seed)
    return seed
