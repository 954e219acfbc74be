"""Pyodide implementation of the platform seam (pynode.platform.Platform): WebCrypto Ed25519, WebSocket,
WebRTC via the page, IndexedDB, loro-crdt, onnxruntime-web.

Runs inside a module Web Worker (web/worker.js). What a worker lacks — RTCPeerConnection — lives in the page
(web/node-host.js) and is reached through postMessage: `page_call` sends a request and awaits its reply;
`on_page_message` receives replies and data-channel events. ArrayBuffers cross the bridge as transferables.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, create_proxy, to_js  # type: ignore[import-not-found]

from pynode.platform.transport import ConnectionClosed
from pynode.wire.errors import WireError

# the replica's and the model runner's types: their modules load when those first run, once the tab joined
# (importing them took ~30 ms of its start)
if TYPE_CHECKING:
    from pynode.platform.crdt import BlobMeta, BlobSplit, CrdtDoc
    from pynode.platform.ed25519_group import Ed25519Group
    from pynode.platform.model import Batch, GraphLoader, GraphSource, Hyper, Tensor, TrainState

ED25519 = "Ed25519"
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")  # RFC 8410 wrapper of a 32-byte seed
log = logging.getLogger(__name__)
_verify_keys: OrderedDict[bytes, Any] = OrderedDict()  # imported public keys, most recently used last
_VERIFY_KEY_CACHE = 4096


def _u8(data: bytes) -> Any:
    """bytes → Uint8Array; `assign` is ~30× faster than to_js for large buffers."""
    arr = js.Uint8Array.new(len(data))
    arr.assign(data)
    return arr


def _obj(d: dict[str, Any]) -> Any:
    return to_js(d, dict_converter=js.Object.fromEntries)


# ---- signatures ---------------------------------------------------------------------------------------


class WebCryptoSigner:
    """An Ed25519 private key held by WebCrypto (non-extractable when generated here)."""

    def __init__(self, private_key: Any, public_key: bytes) -> None:
        self._key = private_key
        self.public_key = public_key

    async def sign(self, message: bytes) -> bytes:
        sig = await js.crypto.subtle.sign(ED25519, self._key, _u8(message))
        return js.Uint8Array.new(sig).to_bytes()


async def load_signer(seed: bytes) -> WebCryptoSigner:
    """The same key as PyNaCl's SigningKey(seed): identical signatures (conformance suite)."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    key = await js.crypto.subtle.importKey(
        "pkcs8", _u8(PKCS8_ED25519_PREFIX + seed), ED25519, True, _array(["sign"])
    )
    jwk = await js.crypto.subtle.exportKey("jwk", key)
    public = _b64url(jwk.x)
    private = await js.crypto.subtle.importKey(
        "pkcs8", _u8(PKCS8_ED25519_PREFIX + seed), ED25519, False, _array(["sign"])
    )
    return WebCryptoSigner(private, public)


async def load_or_create_seed(place: str) -> bytes:
    """This browser profile's node key named `place`: its 32-byte seed, kept in IndexedDB.

    Bytes rather than a non-extractable CryptoKey, because ECVRF proofs (pynode/identity/vrf.py) need the secret
    scalar, which WebCrypto never exposes, and the VRF key must be the identity key itself (a separate VRF key
    could be chosen after seeing what it will be applied to). Signing still goes through WebCrypto, on a
    non-extractable key imported from the seed (load_signer). The price: a script running in this origin can
    read the seed, where it could only use the key before; the relay serves the app from its own origin, with
    no third-party script.
    """
    for _ in range(2):
        stored = await js.hsStore.get(place)
        if stored is not None and stored is not js.undefined:
            seed = stored.to_bytes() if hasattr(stored, "to_bytes") else b""
            if len(seed) != 32:
                raise ValueError(f"IndexedDB entry {place!r} does not hold a 32-byte key seed")
            return seed
        seed = random_bytes(32)
        try:
            await js.hsStore.add(place, _u8(seed))  # refuses to overwrite: two tabs starting at once agree
        except Exception:
            continue  # another tab of this profile stored its seed first: use that one
        return seed
    raise RuntimeError(f"IndexedDB entry {place!r} can neither be read nor created")


async def load_blobs(keys: list[str], max_bytes: int) -> dict[str, bytes]:
    """What IndexedDB holds under `keys` (one transaction), by key; an absent key, a value that is not bytes or
    one over `max_bytes` is left out: the caller validates the rest like network input."""
    values = await js.hsStore.getMany(_array(keys))
    out = {}
    for key, value in zip(keys, values, strict=True):
        if value is None or value is js.undefined or not hasattr(value, "to_bytes"):
            continue
        if value.byteLength <= max_bytes:
            out[key] = value.to_bytes()
    return out


async def save_blobs(blobs: dict[str, bytes]) -> None:
    """Keep `blobs` in IndexedDB under their keys, overwriting, in one transaction: all of them or none."""
    entries = js.Array.new()
    for key, data in blobs.items():
        entries.push(_array([key, _u8(data)]))
    await js.hsStore.putMany(entries)


async def _verify_key(public_key: bytes) -> Any | None:
    """The imported WebCrypto key of `public_key` (cached), None when it is not a point on the curve."""
    key = _verify_keys.get(public_key)
    if key is None:
        try:
            key = await js.crypto.subtle.importKey("raw", _u8(public_key), ED25519, True, _array(["verify"]))
        except Exception:  # not a point on the curve
            return None
        _verify_keys[public_key] = key
        if len(_verify_keys) > _VERIFY_KEY_CACHE:
            _verify_keys.popitem(last=False)
    else:
        _verify_keys.move_to_end(public_key)
    return key


async def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    key = await _verify_key(public_key)
    if key is None:
        return False
    return bool(await js.crypto.subtle.verify(ED25519, key, _u8(signature), _u8(message)))


# verify_later's one crossing: the distinct public keys in one buffer (each imported once, then kept), the
# signatures and messages in another, [key index, signature start, message start, end] per check (Int32; key
# index -1: malformed). _VERIFIER_JS answers a batch with one byte per check.
_VERIFIER_JS = """(() => {
  const imported = new Map();
  return (keysBuf, table, buf) => {
    const keys = [];
    for (let k = 0; k < keysBuf.length; k += 32) {
      const raw = keysBuf.slice(k, k + 32);
      const id = String.fromCharCode(...raw);
      let key = imported.get(id);
      if (key === undefined) {
        key = crypto.subtle.importKey('raw', raw, 'Ed25519', true, ['verify']).catch(() => null);
        imported.set(id, key);
        if (imported.size > MAX_KEYS) imported.delete(imported.keys().next().value);
      }
      keys.push(key);
    }
    const at = new Int32Array(table.buffer, table.byteOffset, table.length / 4);
    return Promise.all(keys).then((ks) => {
      const out = [];
      for (let i = 0; i < at.length; i += 4) {
        const key = at[i] < 0 ? null : ks[at[i]];
        out.push(key === null ? false : crypto.subtle.verify('Ed25519', key, buf.subarray(at[i + 1], at[i + 2]),
          buf.subarray(at[i + 2], at[i + 3])).catch(() => false));
      }
      return Promise.all(out);
    }).then((r) => Uint8Array.from(r, (ok) => (ok ? 1 : 0)));
  };
})()""".replace("MAX_KEYS", str(_VERIFY_KEY_CACHE))
# The batches go to a worker of their own (made from a blob: URL, so it needs no file of its own): WebCrypto's
# Ed25519 verify holds the thread that calls it (measured in a tab's worker: 800 verifications took 170-210 ms to
# launch, and no answer or timer came before the last), so 10,000 of them were 1.3-2 s of the node's own loop; in
# their worker they run beside the check, on another core. Where that worker cannot be made, or fails, batches are
# verified here.
_VERIFY_LATER_JS = """
const local = VERIFIER;
const source = 'const verify = ' + VERIFIER_TEXT + ';' +
  'self.onmessage = (e) => verify(e.data.keysBuf, e.data.table, e.data.buf).then(' +
  '(answers) => self.postMessage({ id: e.data.id, answers }), () => self.postMessage({ id: e.data.id, answers: null }));';
let worker = null;
try {
  worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
} catch (e) {
  worker = null;
}
const waiting = new Map();
let next = 0;
const here = (w) => local(w.keysBuf, w.table, w.buf).then(w.resolve);
if (worker !== null) {
  worker.onmessage = (e) => {
    const w = waiting.get(e.data.id);
    if (w === undefined) return;
    waiting.delete(e.data.id);
    if (e.data.answers === null) here(w); else w.resolve(e.data.answers);
  };
  worker.onerror = () => {
    worker = null;
    for (const w of waiting.values()) here(w);
    waiting.clear();
  };
}
return (keysBuf, table, buf) => {
  if (worker === null) return local(keysBuf, table, buf);
  return new Promise((resolve) => {
    const id = next++;
    waiting.set(id, { keysBuf, table, buf, resolve });
    worker.postMessage({ id, keysBuf, table, buf });
  });
};
""".replace("VERIFIER_TEXT", json.dumps(_VERIFIER_JS)).replace("VERIFIER", _VERIFIER_JS)
_verify_later_js: Any = None


def verify_later(checks: list[tuple[bytes, bytes, bytes]]) -> Awaitable[list[bool]]:
    global _verify_later_js
    if _verify_later_js is None:
        _verify_later_js = js.Function.new(_VERIFY_LATER_JS)()
    index: dict[bytes, int] = {}
    table = array("i")
    parts: list[bytes] = []
    size = 0
    for public_key, message, signature in checks:
        i = -1
        if len(public_key) == 32 and len(signature) == 64:
            i = index.setdefault(public_key, len(index))
        table.extend((i, size, size + 64, size + 64 + len(message)))
        parts += (signature if len(signature) == 64 else bytes(64), message)
        size += 64 + len(message)
    started = _verify_later_js(_u8(b"".join(index)), _u8(table.tobytes()), _u8(b"".join(parts)))
    return asyncio.ensure_future(_answers(started))  # a task: done() says whether the answers are in


async def _answers(started: Any) -> list[bool]:
    return [bool(ok) for ok in (await started).to_bytes()]


_NEXT_TURN_JS = "return new Promise((resolve) => setTimeout(resolve, 1));"
_next_turn_js: Any = None


async def next_turn() -> None:
    """Let every other task of this worker run once, timers included. A message-task yield (asyncio.sleep(0))
    is not enough while WebCrypto answers are queued: Chromium runs those and posted messages before any timer,
    so the node's own timers and the page's probes starved (measured: bench/state_tab.py). So a timer, then
    asyncio.sleep(0): the caller goes on from a message task, and its next timer is not clamped to 4 ms as a
    nested one. The timer waits 1 ms: a setTimeout(0) set from a message task is not a delayed task to
    Chromium, and ran before timers that fell due earlier (the node's, the page's probes): the loop was then
    held across two slices (bench/state_tab.py `turns_without_a_tick`, `longest_gap`)."""
    global _next_turn_js
    if _next_turn_js is None:
        _next_turn_js = js.Function.new(_NEXT_TURN_JS)
    await _next_turn_js()
    await asyncio.sleep(0)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)  # Pyodide backs it with crypto.getRandomValues


def _array(items: list[str]) -> Any:
    return to_js(items)


def _b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---- the relay connection (WebSocket) --------------------------------------------------------------


class BrowserRelaySocket:
    def __init__(self, ws: Any, inbox: asyncio.Queue[bytes | None], proxies: list[Any]) -> None:
        self._ws = ws
        self._inbox = inbox
        self._proxies = proxies

    async def send(self, frame: bytes) -> None:
        if self._ws.readyState != 1:
            raise ConnectionClosed("relay socket is not open")
        self._ws.send(_u8(frame))

    async def recv(self) -> bytes:
        frame = await self._inbox.get()
        if frame is None:
            raise ConnectionClosed("relay closed the socket")
        return frame

    async def close(self) -> None:
        # detach the handlers before destroying their proxies: the close event fires after this returns
        self._ws.onopen = self._ws.onmessage = self._ws.onclose = None
        self._ws.close()
        self._inbox.put_nowait(None)
        for p in self._proxies:
            p.destroy()
        self._proxies.clear()


class BrowserRelayLink:
    def __init__(self, url: str, open_timeout: float = 10.0) -> None:
        self.url = url
        self.description = url
        self._timeout = open_timeout

    async def connect(self) -> BrowserRelaySocket:
        from pynode.wire.limits import MAX_RELAY_FRAME_BYTES

        # the socket web/worker.js opened to this relay while Python loaded, if it still may be used
        early = js.hsTakeRelaySocket(self.url) if hasattr(js, "hsTakeRelaySocket") else None
        ws = js.WebSocket.new(self.url) if early is None else early.ws
        ws.binaryType = "arraybuffer"
        inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_open(_e: Any) -> None:
            if not opened.done():
                opened.set_result(None)

        def on_message(e: Any) -> None:
            if isinstance(e.data, str) or e.data.byteLength > MAX_RELAY_FRAME_BYTES:
                inbox.put_nowait(None)  # the relay never sends text or oversized frames: treat as broken
                ws.close()
                return
            inbox.put_nowait(js.Uint8Array.new(e.data).to_bytes())

        def on_close(_e: Any) -> None:
            if not opened.done():
                opened.set_exception(OSError(f"cannot connect to {self.url}"))
            inbox.put_nowait(None)

        proxies = [create_proxy(f) for f in (on_open, on_message, on_close)]
        ws.onopen, ws.onmessage, ws.onclose = proxies
        handlers = {"open": on_open, "message": on_message, "close": on_close}
        for event in early.events if early is not None else ():  # what it had before, in order
            handlers[str(event.type)](event)
        try:
            async with asyncio.timeout(self._timeout):
                await opened
        except TimeoutError:
            ws.close()
            raise OSError(f"timed out connecting to {self.url}") from None
        return BrowserRelaySocket(ws, inbox, proxies)


def relay_link(url: str) -> BrowserRelayLink:
    return BrowserRelayLink(url)


def sleep_blocking(seconds: float) -> None:
    """Pause a synchronous loop without blocking the event loop: JSPI suspends this Python stack while a
    timer runs (the worker's other tasks — gossip, status — go on meanwhile)."""
    from pyodide.ffi import run_sync  # type: ignore[import-not-found]

    run_sync(js.hsSleep(seconds * 1000))


def ed25519_group() -> Ed25519Group:
    """edwards25519 arithmetic for the ECVRF (pynode/identity/vrf.py): pure Python, as Pyodide has no libsodium
    (prove/verify timings: bench/vrf.py)."""
    from pynode.platform.pure_ed25519 import PureEd25519Group

    return PureEd25519Group()


def restrict_ice_addresses(addresses: list[str]) -> None:
    """The browser gathers its own candidates; nothing to restrict here."""


# ---- WebRTC, through the page ----------------------------------------------------------------------

_calls = itertools.count(1)
_pending: dict[int, asyncio.Future[Any]] = {}
_sessions: dict[int, RtcSession] = {}
_session_ids = itertools.count(1)


def post(message: dict[str, Any], transfer: list[Any] | None = None) -> None:
    """Send a message to the page (the worker's postMessage)."""
    obj = _obj(message)
    if transfer:
        js.postMessage(obj, to_js(transfer))
    else:
        js.postMessage(obj)


async def page_call(op: str, **args: Any) -> Any:
    """Ask the page to do something only it can (WebRTC) and wait for its reply."""
    call = next(_calls)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _pending[call] = future
    try:
        post({"type": "rtc", "call": call, "op": op, **args})
        return await future
    finally:
        _pending.pop(call, None)


def on_page_message(msg: JsProxy) -> bool:
    """Replies and data-channel events from the page; returns False for messages that are not ours."""
    kind = msg.type
    if kind == "rtc-reply":
        future = _pending.get(int(msg.call))
        if future is not None and not future.done():
            if msg.ok:
                future.set_result(getattr(msg, "sdp", None))
            else:
                future.set_exception(ConnectionError(str(msg.error)))
        return True
    if kind == "rtc-event":
        session = _sessions.get(int(msg.id))
        if session is not None:
            session.on_event(str(msg.event), getattr(msg, "data", None))
        return True
    return False


class RtcSession:
    """One RTCPeerConnection with one data channel, owned by the page, driven from here."""

    def __init__(self) -> None:
        self.id = next(_session_ids)
        _sessions[self.id] = self
        self._open = asyncio.Event()
        self._closed = False
        self.on_message: Callable[[bytes], None] = lambda data: None
        self.on_close: Callable[[], None] = lambda: None

    def on_event(self, event: str, data: Any) -> None:
        if event == "open":
            self._open.set()
        elif event == "message":
            try:
                self.on_message(js.Uint8Array.new(data).to_bytes())
            except WireError:
                self._finish()
        elif event == "close":
            self._finish()

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            _sessions.pop(self.id, None)
            self.on_close()

    async def create_offer(self) -> str:
        return str(await page_call("offer", id=self.id))

    async def accept_offer(self, sdp: str) -> str:
        return str(await page_call("answer", id=self.id, sdp=sdp))

    async def accept_answer(self, sdp: str) -> None:
        await page_call("accept", id=self.id, sdp=sdp)

    async def wait_open(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._open.wait()

    @property
    def buffered_amount(self) -> int:
        return 0  # the page queues behind the channel's own flow control (bufferedamountlow)

    def send(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionError("data channel is closed")
        arr = _u8(data)
        post({"type": "rtc-send", "id": self.id, "data": arr}, [arr.buffer])

    async def close(self) -> None:
        if not self._closed:
            post({"type": "rtc-close", "id": self.id})
        self._finish()


def rtc_session() -> RtcSession:
    return RtcSession()


def close_all_rtc() -> None:
    for session in list(_sessions.values()):
        post({"type": "rtc-close", "id": session.id})
        session._finish()


# ---- model runner (onnxruntime-web) ----------------------------------------------------------------
#
# The same Runner as platform/native_ort.py (see platform/model.py) over onnxruntime-web's WASM provider,
# which web/worker.js loads on first use (`hsLoadOrt`, one thread, wasm from dist/ort/). ORT-web's API is
# promise-based while the Runner is synchronous: `run_sync` suspends the Python stack through JSPI
# (Chromium ≥ 137), which works in code a task runs — including `asyncio.to_thread`, which Pyodide's loop
# runs inline — and lets other tasks (gossip) proceed meanwhile, as a thread would in CPython.
# θ, m and v stay on the JS side as the previous step's output tensors; only batches, scalars and what a
# caller reads (θ, the state) cross the bridge, as bytes through Uint8Array.assign / to_bytes.
#
# Every ORT-web call takes its turn (_ORT_TURNS): one at a time in this worker, in arrival order. ORT-web's `run`
# keeps its tables of input and output tensors on its wasm instance's one stack from its start to its end, across
# awaits, and ends by restoring the stack pointer it found. A second run that starts meanwhile (another task's,
# while the first task's stack is suspended) puts its tables below; the first to end then frees the other's, which
# that one's own OrtRun overwrites: outputs read back as null ("Cannot read properties of null (reading '3')") or
# wrong. Inference (the services) and training run in tasks of one tab, so they would overlap.


_ORT_OPTIONS = {
    "executionProviders": ["wasm"],
    "graphOptimizationLevel": "basic",  # as native_ort.OPT_LEVEL: fusions beyond basic differ between builds
    "executionMode": "sequential",
    "logSeverityLevel": 3,
}
_TYPED = {"float32": "Float32Array", "int64": "BigInt64Array"}


# ORT-web calls take turns (a FIFO lock): two runs in flight in one wasm instance (tasks suspended in run_sync)
# break its stack discipline and read back null outputs. One lock per build: each build is its own wasm instance
# with its own stack, so a WebGPU inference never waits for a wasm training call (bench/services_tab.py, turn_s).
_ORT_TURNS = asyncio.Lock()
_WEBGPU_TURNS = asyncio.Lock()
# the builds (by their locks) that created a session: their wasm is compiled
_STARTED: set[asyncio.Lock] = set()
Phases = dict[str, float]  # seconds a runner spent in each phase of its ORT-web calls, summed (its `phases`)


def _add(phases: Phases | None, phase: str, since: float) -> None:
    if phases is not None:
        phases[phase] = phases.get(phase, 0.0) + time.monotonic() - since


def _in_turn(
    call: Callable[[], Any], turns: asyncio.Lock = _ORT_TURNS, phases: Phases | None = None, phase: str = ""
) -> Any:
    """`call()`'s promise (an ORT-web call), awaited through JSPI in `turns` (its build's turn); the seconds spent
    waiting for the turn and in the call are added to `phases` ("turn_s", `phase`)."""
    from pyodide.ffi import run_sync  # type: ignore[import-not-found]

    t0 = time.monotonic()
    run_sync(turns.acquire())
    _add(phases, "turn_s", t0)
    t1 = time.monotonic()
    ok = False
    try:
        out = run_sync(call())
        ok = True
        return out
    finally:
        turns.release()
        _add(phases, phase if ok else "failed_s", t1)


def _ort() -> Any:
    from pyodide.ffi import run_sync  # type: ignore[import-not-found]

    ort = getattr(js, "ort", None)
    if ort is None or ort is js.undefined:
        if not hasattr(js, "hsLoadOrt"):
            raise RuntimeError("onnxruntime-web is not available in this context (web/worker.js loads it)")
        ort = run_sync(js.hsLoadOrt())
    return ort


def _ort_webgpu() -> Any:
    """onnxruntime-web's WebGPU build, or None when the browser offers no WebGPU adapter (worker.js imports the
    build only then) or the build does not load."""
    from pyodide.ffi import run_sync  # type: ignore[import-not-found]

    if not hasattr(js, "hsLoadOrtWebgpu"):
        return None
    try:
        ort = run_sync(js.hsLoadOrtWebgpu())
    except Exception as e:  # a JsException: the module or its wasm failed to load
        log.warning("onnxruntime-web's WebGPU build did not load (%s); running on wasm", e)
        return None
    return ort if hasattr(ort, "InferenceSession") else None  # no adapter: undefined (None), or jsnull


def _bytes_of(typed: Any) -> bytes:
    """A typed array's bytes (a Python copy: ORT may reuse the buffer)."""
    return js.Uint8Array.new(typed.buffer, typed.byteOffset, typed.byteLength).to_bytes()


class WebOrtRunner:
    """`device`: "wasm" (or "cpu"), "webgpu", or "auto" — WebGPU when the browser offers an adapter, else wasm.
    WebGPU is for inference: its float results differ from the wasm build's in the last bits, and training steps
    must repeat bit for bit on every platform. `device` afterwards says which one runs (a graph the WebGPU
    provider cannot take runs on the WebGPU build's wasm provider, and says so)."""

    device = "wasm"

    def __init__(self, n_params: int, load_graph: GraphLoader, device: str, threads: int) -> None:
        if device not in ("cpu", "wasm", "webgpu", "auto"):
            raise ValueError(f"the browser runs models on wasm or webgpu, not {device!r}")
        if threads != 1:
            # ORT-web's thread count is global and fixed to 1 by worker.js: runs then repeat bit for bit. Two
            # threads change every char-LM graph's bits, from its (32, 512)·(512, 64) gradient MatMuls on, as they
            # do in onnxruntime on CPython; the MLP graphs' stay the same
            raise ValueError("the browser runner uses exactly one thread")
        # seconds per phase, summed over this runner's life: importing the build's module ("import_s"), reading
        # graphs ("graph_s"), waiting for the turn ("turn_s"), the build's first session (its wasm compiles and
        # its runtime starts: "start_s"), later sessions ("session_s"), runs ("run_s"), calls that failed (a
        # graph the WebGPU provider refused: "failed_s")
        self.phases: Phases = {}
        t0 = time.monotonic()
        gpu = _ort_webgpu() if device in ("webgpu", "auto") else None
        if gpu is None and device == "webgpu":
            raise RuntimeError("this browser offers no WebGPU adapter")
        if gpu is not None:
            self.device = "webgpu"
        self._ort = gpu if gpu is not None else _ort()
        self._turns = _WEBGPU_TURNS if gpu is not None else _ORT_TURNS
        _add(self.phases, "import_s", t0)
        self._n = n_params
        self._load_graph = load_graph
        self._sessions: dict[str, Any] = {}
        self._hyper_of: Hyper | None = None
        self._hyper_tensors: dict[str, Any] = {}
        from pynode.platform.model import TrainState

        self.set_state(TrainState.fresh(array("f", bytes(4 * n_params))))

    # -- tensors

    def _tensor(self, dtype: str, data: bytes, shape: tuple[int, ...]) -> Any:
        u8 = _u8(data)
        typed = getattr(js, _TYPED[dtype]).new(u8.buffer)
        return self._ort.Tensor.new(dtype, typed, to_js(list(shape)))

    def _scalar(self, x: float) -> Any:
        return self._ort.Tensor.new("float32", js.Float32Array.of(x), to_js([]))

    def _vector(self, v: array) -> Any:
        if len(v) != self._n:
            raise ValueError(f"expected {self._n} floats, got {len(v)}")
        return self._tensor("float32", v.tobytes(), (self._n,))

    def _batch_tensor(self, t: Tensor) -> Any:
        return self._tensor(t.dtype, t.data.tobytes(), tuple(t.shape))

    # -- running graphs

    def _session(self, kind: str) -> Any:
        s = self._sessions.get(kind)
        if s is None:
            t0 = time.monotonic()
            graph = _u8(self._load_graph(kind))
            _add(self.phases, "graph_s", t0)
            options = _obj({**_ORT_OPTIONS, "executionProviders": [self.device]})
            create = self._ort.InferenceSession.create
            # a build's first session compiles its wasm and starts the runtime (and, on WebGPU, the device)
            phase = "session_s" if self._turns in _STARTED else "start_s"
            s = self._sessions[kind] = self._call(lambda: create(graph, options), phase)
            _STARTED.add(self._turns)
        return s

    def _call(self, call: Callable[[], Any], phase: str) -> Any:
        return _in_turn(call, self._turns, self.phases, phase)

    def _run(self, kind: str, feeds: dict[str, Any]) -> Any:
        session = self._session(kind)
        try:
            return self._call(lambda: session.run(_obj(feeds)), "run_s")
        except Exception as e:  # a JsException from ORT
            if self.device != "webgpu":
                raise
            # The WebGPU provider lacks something this graph needs (an op, a shape): the same build's wasm
            # provider runs it from now on, and the tensors made so far stay valid (one build, one Tensor class).
            log.warning("WebGPU could not run the %s graph; this model runs on wasm: %s", kind, e)
            self.device = "wasm"
            for gpu_session in self._sessions.values():
                self._call(gpu_session.release, "session_s")
            self._sessions.clear()
            session = self._session(kind)
            return self._call(lambda: session.run(_obj(feeds)), "run_s")

    def _hyper(self, hyper: Hyper) -> dict[str, Any]:
        if hyper != self._hyper_of:  # the same values call after call: their tensors are made once
            names = ("lr", "beta1", "beta2", "eps", "weight_decay")
            self._hyper_tensors = {name: self._scalar(getattr(hyper, name)) for name in names}
            self._hyper_of = hyper
        return {"step": self._scalar(float(self._step + 1)), **self._hyper_tensors}

    # -- the Runner interface

    def set_state(self, state: TrainState) -> None:
        self._theta, self._m, self._v = (self._vector(x) for x in (state.theta, state.m, state.v))
        self._step = state.step

    def _floats(self, tensor: Any) -> array:
        return array("f", _bytes_of(tensor.data))  # CPU tensors: .data is there, no await

    def state(self) -> TrainState:
        from pynode.platform.model import TrainState

        return TrainState(self._floats(self._theta), self._floats(self._m), self._floats(self._v), self._step)

    def theta(self) -> array:
        return self._floats(self._theta)

    def train_step(self, batch: Batch, hyper: Hyper) -> float:
        feeds = {"theta": self._theta, "m": self._m, "v": self._v, **self._hyper(hyper)}
        feeds.update(x=self._batch_tensor(batch.x), y=self._batch_tensor(batch.y))
        out = self._run("train", feeds)
        self._theta, self._m, self._v = out.theta_out, out.m_out, out.v_out
        self._step += 1
        return float(out.loss.data[0])

    def train_steps(self, batches: Sequence[Batch], hyper: Hyper) -> list[float]:
        from pynode.platform.model import stack

        both = stack(batches)
        feeds = {"theta": self._theta, "m": self._m, "v": self._v, **self._hyper(hyper)}
        feeds.update(xs=self._batch_tensor(both.x), ys=self._batch_tensor(both.y))
        out = self._run("train_loop", feeds)
        self._theta, self._m, self._v = out.theta_out, out.m_out, out.v_out
        self._step += len(batches)
        return list(array("f", _bytes_of(out.losses.data)))

    def grad(self, batch: Batch) -> tuple[float, array]:
        feeds = {"theta": self._theta, "x": self._batch_tensor(batch.x), "y": self._batch_tensor(batch.y)}
        out = self._run("grad", feeds)
        return float(out.loss.data[0]), self._floats(out.grad)

    def apply_grad(self, grad: array, hyper: Hyper) -> None:
        feeds = {"theta": self._theta, "m": self._m, "v": self._v, "grad": self._vector(grad)}
        feeds.update(self._hyper(hyper))
        out = self._run("adamw", feeds)
        self._theta, self._m, self._v = out.theta_out, out.m_out, out.v_out
        self._step += 1

    def evaluate(self, batch: Batch) -> tuple[float, float]:
        feeds = {"theta": self._theta, "x": self._batch_tensor(batch.x), "y": self._batch_tensor(batch.y)}
        out = self._run("eval", feeds)
        return float(out.loss.data[0]), float(out.correct.data[0])

    def infer(self, x: Tensor) -> array:
        out = self._run("infer", {"theta": self._theta, "x": self._batch_tensor(x)})
        return self._floats(out.logits)


def model_runner(
    n_params: int, load_graph: GraphLoader, device: str = "cpu", threads: int = 1
) -> WebOrtRunner:
    """A model runner over onnxruntime-web (WASM; WebGPU for "webgpu"/"auto", see WebOrtRunner); see
    platform/model.py. Call it from a task."""
    return WebOrtRunner(n_params, load_graph, device, threads)


class WebGraphSession:
    """An inference graph on onnxruntime-web's WASM provider (platform/model.py GraphSession). `run` is
    synchronous through JSPI, like WebOrtRunner's; call it from a task."""

    device = "wasm"

    def __init__(self, ort: Any, session: Any) -> None:
        self._ort = ort
        self._session = session

    def _tensor(self, t: Tensor) -> Any:
        typed = getattr(js, _TYPED[t.dtype]).new(_u8(t.data.tobytes()).buffer)
        return self._ort.Tensor.new(t.dtype, typed, to_js(list(t.shape)))

    def run(self, feeds: dict[str, Tensor], outputs: list[str]) -> dict[str, Tensor]:
        from pynode.platform.model import Tensor

        tensors = _obj({name: self._tensor(t) for name, t in feeds.items()})
        out = _in_turn(lambda: self._session.run(tensors))
        result: dict[str, Tensor] = {}
        for name in outputs:
            t = getattr(out, name)
            result[name] = Tensor("float32", tuple(int(d) for d in t.dims), array("f", _bytes_of(t.data)))
        return result


async def graph_session(source: GraphSource, sha256: str, threads: int = 1) -> WebGraphSession:
    """An inference graph from bytes or a URL (fetched and hashed on the JS side: 90 MB never cross into
    Python), checked against its sha256, on onnxruntime-web (one thread, as worker.js sets it)."""
    if threads != 1:
        raise ValueError("the browser runs graphs on exactly one thread")
    if not hasattr(js, "hsLoadOrt"):
        raise RuntimeError("onnxruntime-web is not available in this context (web/worker.js loads it)")
    ort = await js.hsLoadOrt()
    if isinstance(source, str):
        response = await js.fetch(source)
        if not response.ok:
            raise OSError(f"cannot fetch {source}: HTTP {response.status}")
        data = js.Uint8Array.new(await response.arrayBuffer())
    else:
        data = _u8(source)
    digest = js.Uint8Array.new(await js.crypto.subtle.digest("SHA-256", data)).to_bytes().hex()
    if digest != sha256:
        raise ValueError("the graph's bytes do not match their sha256 (rebuild or restore it)")
    options = {**_ORT_OPTIONS, "graphOptimizationLevel": "all"}  # compared with a tolerance, never hashed
    async with _ORT_TURNS:
        return WebGraphSession(ort, await ort.InferenceSession.create(data, _obj(options)))


# ---- CRDT documents (loro-crdt) ----------------------------------------------------------------------
#
# platform/browser_loro.py over npm loro-crdt, which web/worker.js starts loading while Pyodide boots.


async def crdt_ready() -> None:
    """Wait until loro-crdt's wasm is loaded; call once before the first `crdt_doc()`."""
    if not hasattr(js, "hsLoadLoro"):
        raise RuntimeError("loro-crdt is not available in this context (web/worker.js loads it)")
    await js.hsLoadLoro()


def crdt_doc(peer: int | None = None) -> CrdtDoc:
    """A new, empty CRDT document with Loro peer id `peer` (pynode.platform.crdt.CrdtDoc)."""
    from pynode.platform.browser_loro import JsLoroDoc

    return JsLoroDoc(peer=peer)


def crdt_blob_meta(blob: bytes) -> BlobMeta:
    """What a CRDT update or snapshot claims about itself, read without importing it (BlobMeta)."""
    from pynode.platform.browser_loro import blob_meta

    return blob_meta(blob)


def crdt_split(blob: bytes, max_changes: int) -> BlobSplit | None:
    """`blob` in parts of at most `max_changes` changes, cut by a worker of its own (crdt.BlobSplit)."""
    from pynode.platform.browser_loro import split

    return split(blob, max_changes)
