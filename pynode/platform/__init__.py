"""The only seam between CPython and the browser: the `Platform` protocol and `current()`.

`native` (CPython: PyNaCl, websockets, aiortc, loro, onnxruntime) and `browser` (Pyodide: WebCrypto,
WebSocket, the page's RTCPeerConnection, loro-crdt, onnxruntime-web) are modules that both satisfy `Platform`;
tests/test_platform_protocol.py checks both against it, and the conformance suite (conformance.py) checks that
they behave alike, in CPython and in Chromium. Clocks and async sleeps are the standard library's on both
(Pyodide backs them with the browser's), so they are not part of the seam; `sleep_blocking` is, because a
synchronous loop can only pause in the browser by suspending through JSPI.

Who calls `current()`: `pynode.identity` (keys and signature verification, for every core),
`pynode.train.runner.open_runner` (model runners) and the layers that compose a node (node, runtime, browser,
cli, sim). The replicated state is handed its `Crdt` instead. The seam's own vocabulary lives here (crdt.py,
model.py, transport.py, ed25519_group.py) and this package imports nothing of pynode but `wire`, so no core
can form a cycle through it.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from pynode.wire.signing import Signer

# the seam's vocabulary, named here in annotations only: a tab imports each module when it first uses it
if TYPE_CHECKING:
    from pynode.platform.crdt import BlobMeta, CrdtDoc
    from pynode.platform.ed25519_group import Ed25519Group
    from pynode.platform.model import GraphLoader, GraphSession, GraphSource, Runner
    from pynode.platform.transport import RelayLink, RtcSession

__all__ = ["Platform", "Signer", "current", "in_browser"]


class Platform(Protocol):
    """What every core may get from where it runs. Members are module-level functions of native/browser."""

    # -- randomness, keys and signatures (Ed25519, RFC 8032)
    def random_bytes(self, n: int) -> bytes: ...

    async def load_signer(self, seed: bytes) -> Signer:
        """The key of a 32-byte seed; identical signatures on every platform."""
        ...

    async def load_or_create_seed(self, place: str) -> bytes:
        """The node's 32-byte key seed kept at `place` (a data directory / an IndexedDB entry name), made on
        first use. The seed, not an opaque key: the ECVRF (pynode/identity/vrf.py) needs its secret scalar."""
        ...

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...

    def verify_later(self, checks: list[tuple[bytes, bytes, bytes]]) -> Awaitable[list[bool]]:
        """`verify` of each (public key, message, signature), started now, answered in order when awaited: the
        browser verifies on WebCrypto's thread while the caller goes on. Its `done()` says whether the answers
        are in (the state check keeps few batches in flight)."""
        ...

    def ed25519_group(self) -> Ed25519Group:
        """edwards25519 arithmetic for the ECVRF (pynode/identity/vrf.py)."""
        ...

    # -- transports
    def relay_link(self, url: str) -> RelayLink: ...

    def rtc_session(self) -> RtcSession: ...

    def restrict_ice_addresses(self, addresses: list[str]) -> None:
        """Gather host candidates on these addresses only (a one-machine network); the browser ignores it."""
        ...

    # -- the replicated state's CRDT (platform/crdt.py)
    async def crdt_ready(self) -> None:
        """Wait until the CRDT library is loaded (the browser fetches its wasm); call before `crdt_doc`."""
        ...

    def crdt_doc(self, peer: int | None = None) -> CrdtDoc: ...

    def crdt_blob_meta(self, blob: bytes) -> BlobMeta: ...

    # -- models (platform/model.py)
    def model_runner(
        self, n_params: int, load_graph: GraphLoader, device: str = "cpu", threads: int = 1
    ) -> Runner: ...

    async def graph_session(self, source: GraphSource, sha256: str, threads: int = 1) -> GraphSession:
        """An inference graph (e.g. the sentence embedder) loaded after its bytes match `sha256`."""
        ...

    # -- pacing long synchronous work
    def sleep_blocking(self, seconds: float) -> None: ...


def in_browser() -> bool:
    return sys.platform == "emscripten"


def current() -> Platform:
    """The platform this process runs on (the `native` or the `browser` module)."""
    if in_browser():
        from pynode.platform import browser

        return browser  # a module satisfying the protocol
    from pynode.platform import native

    return native
