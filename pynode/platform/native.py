"""CPython implementation of the platform seam (pynode.platform.Platform): PyNaCl Ed25519, os.urandom, key
files, websockets, aiortc, loro, onnxruntime.

Beyond the protocol, CPython-only code (the simulator, benchmarks, tests) may sign and verify synchronously:
`NaclSigner(seed).sign_now`, `verify_now`, `load_or_create_seed_now`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.exceptions
import nacl.signing

from pynode.platform.transport import ConnectionClosed

if TYPE_CHECKING:
    from pynode.platform.crdt import BlobMeta, CrdtDoc
    from pynode.platform.ed25519_group import Ed25519Group
    from pynode.platform.model import GraphLoader, GraphSession, GraphSource, Runner
    from pynode.platform.native_rtc import RtcSession

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


async def load_signer(seed: bytes) -> NaclSigner:
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


def verify_later(checks: list[tuple[bytes, bytes, bytes]]) -> Awaitable[list[bool]]:
    return _Ready([verify_now(*check) for check in checks])  # here and now: PyNaCl answers at once


class _Ready:
    """An awaitable whose answer is already there: awaiting it never suspends (run_sync drives it)."""

    def __init__(self, value: list[bool]) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, list[bool]]:
        return self.value
        yield  # a generator that returns at once

    def done(self) -> bool:
        return True


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def load_or_create_seed_now(data_dir: str | os.PathLike[str]) -> bytes:
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
            raise PermissionError(
                f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
            ) from None
        seed = path.read_bytes()
        if len(seed) != SEED_BYTES:
            raise ValueError(
                f"{path} is not an identity key ({len(seed)} bytes, expected {SEED_BYTES})"
            ) from None
        return seed
    seed = os.urandom(SEED_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(seed)
    return seed


async def load_or_create_seed(place: str) -> bytes:
    """The node's key seed, kept in directory `place` (see load_or_create_seed_now)."""
    return load_or_create_seed_now(place)


def rtc_session() -> RtcSession:
    """A new WebRTC session (aiortc is imported only by nodes that go direct)."""
    from pynode.platform.native_rtc import RtcSession

    return RtcSession()


def restrict_ice_addresses(addresses: list[str]) -> None:
    from pynode.platform.native_rtc import restrict_ice_addresses as restrict

    restrict(addresses)


class WebSocketRelaySocket:
    """A relay connection over a `websockets` client socket; frames are binary messages."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def send(self, frame: bytes) -> None:
        from websockets.exceptions import ConnectionClosed as WsClosed

        try:
            await self._ws.send(frame)
        except WsClosed as e:
            raise ConnectionClosed(
                f"relay closed the socket ({e.rcvd.code if e.rcvd else 'no close frame'})"
            ) from None

    async def recv(self) -> bytes:
        from websockets.exceptions import ConnectionClosed as WsClosed

        from pynode.wire.errors import WireError

        try:
            message = await self._ws.recv()
        except WsClosed as e:
            raise ConnectionClosed(
                f"relay closed the socket ({e.rcvd.code if e.rcvd else 'no close frame'})"
            ) from None
        if not isinstance(message, bytes):
            raise WireError("bad_frame", "text message from the relay")
        return message

    async def close(self) -> None:
        await self._ws.close()


class WebSocketRelayLink:
    """Reach a relay at a ws:// or wss:// URL."""

    def __init__(self, url: str, open_timeout: float = 5.0) -> None:
        self.url = url
        self.description = url
        self._open_timeout = open_timeout

    async def connect(self) -> WebSocketRelaySocket:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidURI

        from pynode.wire.limits import MAX_RELAY_FRAME_BYTES

        try:
            ws = await connect(
                self.url,
                max_size=MAX_RELAY_FRAME_BYTES,
                open_timeout=self._open_timeout,
                ping_interval=20,
                ping_timeout=20,
                max_queue=256,
            )
        except InvalidURI as e:
            raise OSError(f"not a relay URL: {e}") from None
        except InvalidHandshake as e:
            raise OSError(f"not a relay (WebSocket handshake failed: {e})") from None
        return WebSocketRelaySocket(ws)


def relay_link(url: str) -> WebSocketRelayLink:
    return WebSocketRelayLink(url)


async def crdt_ready() -> None:
    """The CRDT library is a plain import here (the browser's must load its wasm first)."""


def crdt_doc(peer: int | None = None) -> CrdtDoc:
    """A new, empty CRDT document (Loro) with Loro peer id `peer` (pynode.platform.crdt.CrdtDoc)."""
    from pynode.platform.native_loro import LoroCrdtDoc

    return LoroCrdtDoc(peer=peer)


def crdt_blob_meta(blob: bytes) -> BlobMeta:
    """What a CRDT update or snapshot claims about itself, read without importing it (BlobMeta)."""
    from pynode.platform.native_loro import blob_meta

    return blob_meta(blob)


def model_runner(n_params: int, load_graph: GraphLoader, device: str = "cpu", threads: int = 1) -> Runner:
    """A model runner over onnxruntime (imported only by nodes that train); see platform/model.py."""
    from pynode.platform.native_ort import OrtRunner

    return OrtRunner(n_params, load_graph, device, threads)


async def graph_session(source: GraphSource, sha256: str, threads: int = 1) -> GraphSession:
    """An inference graph over onnxruntime, from bytes or a file path, checked against its sha256."""
    import asyncio

    from pynode.platform.model import check_graph
    from pynode.platform.native_ort import OrtGraphSession

    def load() -> OrtGraphSession:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        return OrtGraphSession(check_graph(data, sha256), threads)

    return await asyncio.to_thread(load)  # reading, hashing and optimising 90 MB takes a second or two


def sleep_blocking(seconds: float) -> None:
    """Pause a synchronous work loop (it runs in a worker thread in CPython)."""
    import time

    time.sleep(seconds)


def ed25519_group() -> Ed25519Group:
    """edwards25519 arithmetic for the ECVRF (pynode/identity/vrf.py), on libsodium."""
    from pynode.platform.native_ed25519 import SodiumEd25519Group

    return SodiumEd25519Group()
