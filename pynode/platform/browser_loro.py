"""The CRDT document in the browser, on npm `loro-crdt` (the same Rust core as CPython's `loro`, compiled to
wasm) through the Pyodide FFI. web/worker.js imports loro-crdt's web build, initialises its wasm and sets
`self.loro`; `crdt_ready()` in platform/browser.py waits for that.

Same contract as native_loro.py: changes come back through Loro's own JSON export of an id span, parsed by
the shared `crdt.change_from_json`, so pynode/state's authorship checks see identical `Change`s on both
platforms. Bulk data crosses the bridge once per call (a blob as one Uint8Array, a span of changes as one
JSON string), never element by element. loro-crdt throws plain strings or wasm traps; they become CrdtError.
"""

from __future__ import annotations

import array
import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import js  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from pynode.platform.crdt import (
    BlobMeta,
    Change,
    CrdtError,
    ImportResult,
    SplitUnavailable,
    VersionVector,
    change_from_json,
    parse_id,
)

T = TypeVar("T")
# loro-crdt's blob mode names → the names native_loro reports (from loro's EncodedBlobMode)
_MODES = {
    "update": "updates",
    "snapshot": "snapshot",
    "shallow-snapshot": "shallowsnapshot",
    "outdated-snapshot": "outdatedsnapshot",
    "outdated-update": "outdatedrle",
}


def _loro() -> Any:
    loro = getattr(js, "loro", None)
    if loro is None or loro is js.undefined:
        raise CrdtError("loro-crdt is not loaded (web/worker.js loads it; await platform.crdt_ready())")
    return loro


def _guard(call: Callable[[], T], what: str) -> T:
    try:
        return call()
    except CrdtError:
        raise
    except Exception as e:  # JsException (a thrown string, a wasm trap) or a failed conversion
        raise CrdtError(f"{what}: {str(e)[:200]}") from None


def _u8(data: bytes) -> Any:
    arr = js.Uint8Array.new(len(data))
    arr.assign(data)  # one memcpy, far cheaper than to_js(bytes) (PLATFORM_NOTES)
    return arr


def _obj(d: dict[str, Any]) -> Any:
    return to_js(d, dict_converter=js.Object.fromEntries)


def _bigint(peer: int) -> Any:
    return js.BigInt(str(peer))  # loro-crdt's u64 peer ids are BigInts; via text so no float rounding


def _from_vv(vv: Any) -> VersionVector:
    """A loro-crdt VersionVector (Map of peer text → end counter) as a plain dict."""
    return _vv_dict(json.loads(js.JSON.stringify(js.Object.fromEntries(vv.toJSON()))))


def _vv_dict(entries: dict[Any, Any]) -> VersionVector:
    """Peer (text or int) → end counter, as a version vector without its empty entries."""
    return {int(p): int(end) for p, end in entries.items() if end > 0}


def _blob_meta(
    mode: str, changes: Any, start: VersionVector, end: VersionVector, frontiers: Iterable[tuple[Any, Any]]
) -> BlobMeta:
    """What loro-crdt says of a blob (read here, or by the splitter worker) as a BlobMeta."""
    return BlobMeta(
        _MODES.get(mode, mode.replace("-", "")),
        int(changes),
        start,
        end,
        tuple(sorted((int(p), int(c)) for p, c in frontiers)),
    )


def _to_vv(vv: VersionVector) -> Any:
    pairs = to_js([[str(p), end] for p, end in vv.items() if end > 0])
    return _loro().VersionVector.parseJSON(js.Map.new(pairs))


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "to_bytes") and js.ArrayBuffer.isView(value):
        return bytes(value.to_bytes())
    return None


def _free(obj: Any) -> None:
    """Release a wasm object now rather than whenever JS garbage collection finalises it."""
    with contextlib.suppress(Exception):  # already freed, or the interpreter is shutting down
        obj.free()


# get_many's one crossing: every value that is binary (a container or nothing else is not a record: -1) copied
# into one buffer, and an Int32Array of their lengths
_GET_MANY_JS = """
const lengths = new Int32Array(keys.length);
const found = [];
let total = 0;
for (let i = 0; i < keys.length; i++) {
  const v = map.get(keys[i]);
  if (ArrayBuffer.isView(v)) { found.push(v); lengths[i] = v.length; total += v.length; } else lengths[i] = -1;
}
const data = new Uint8Array(total);
let at = 0;
for (const v of found) { data.set(v, at); at += v.length; }
return [data, new Uint8Array(lengths.buffer)];
"""
_get_many_js: Any = None

# changes' one crossing: Loro's JSON export of the span, but every binary value (Loro writes bytes as a list of
# integers, 0-255: 3-4 characters of JSON per byte, then a Python int each) moved into one buffer, located by
# [change, op, start, length] (Int32); the JSON crosses as UTF-8 (in Pyodide-in-Node, 5,000 changes read ~90 ms
# faster than as a JS string made into a Python str). A list crosses as bytes only where change_from_json would
# have made the same bytes of it, so both platforms read every change alike.
_CHANGES_JS = """
const changes = doc.exportJsonInIdSpan({ peer, counter, length });
const places = [];
let data = new Uint8Array(1 << 16);
let total = 0;
for (let c = 0; c < changes.length; c++) {
  const ops = changes[c].ops || [];
  for (let o = 0; o < ops.length; o++) {
    const content = ops[o].content;
    const v = content && content.value;
    if (!Array.isArray(v)) continue;
    if (total + v.length > data.length) {
      const grown = new Uint8Array(Math.max(2 * data.length, total + v.length));
      grown.set(data.subarray(0, total));
      data = grown;
    }
    let i = 0;
    for (; i < v.length; i++) {  // copied as checked; a list that is not all bytes is left in place
      const x = v[i];
      if (!Number.isInteger(x) || x < 0 || x > 255) break;
      data[total + i] = x;
    }
    if (i < v.length) continue;
    places.push(c, o, total, v.length);
    total += v.length;
    content.value = null;
  }
}
return [new TextEncoder().encode(JSON.stringify(changes)), data.subarray(0, total), new Uint8Array(new Int32Array(places).buffer)];
"""
_changes_js: Any = None


class JsLoroDoc:
    """A loro-crdt document restricted to what the state core uses: binary values in root maps."""

    def __init__(self, doc: Any | None = None, peer: int | None = None) -> None:
        self._doc = doc if doc is not None else _guard(lambda: _loro().LoroDoc.new(), "create")
        if peer is not None:
            self.peer = peer

    def __del__(self) -> None:
        doc = getattr(self, "_doc", None)
        if doc is not None:
            _free(doc)  # forks are made per incoming update: give their wasm memory back at once

    @property
    def peer(self) -> int:
        return int(str(self._doc.peerIdStr))

    @peer.setter
    def peer(self, value: int) -> None:
        _guard(lambda: self._doc.setPeerId(_bigint(value)), "set peer id")

    def version(self) -> VersionVector:
        return _guard(lambda: _from_vv(self._doc.oplogVersion()), "version")

    def next_change(self) -> tuple[int, int, tuple[tuple[int, int], ...]]:
        """(counter, lamport, deps) of the next local change: a dry run in a fork, as native_loro does."""

        def probe() -> tuple[int, int, tuple[tuple[int, int], ...]]:
            peer = self.peer
            fork = self._doc.fork()
            try:
                fork.setPeerId(_bigint(peer))
                fork.getMap("_probe").set("_", 0)
                fork.setNextCommitMessage("probe")
                fork.commit()
                last = _from_vv(fork.oplogVersion())[peer] - 1
                span = _obj({"peer": str(peer), "counter": last, "length": 1})
                raw = json.loads(js.JSON.stringify(fork.exportJsonInIdSpan(span)))[0]
            finally:
                _free(fork)
            return last, int(raw["lamport"]), tuple(sorted(parse_id(d) for d in raw["deps"]))

        return _guard(probe, "dry run")

    def put(self, root: str, items: list[tuple[str, bytes]], message: str) -> None:
        def put() -> None:
            m = self._doc.getMap(root)
            for key, value in items:
                m.set(key, _u8(value))
            self._doc.setNextCommitMessage(message)
            self._doc.commit()

        _guard(put, "write")

    def get(self, root: str, key: str) -> bytes | None:
        def get() -> bytes | None:
            found = self._doc.getMap(root).get(key)
            # a container in that slot, or no value at all, is not a record
            return found.to_bytes() if js.ArrayBuffer.isView(found) else None

        return _guard(get, "read")

    def get_many(self, root: str, keys: list[str]) -> list[bytes | None]:
        """One crossing for all `keys`: their values come back in one buffer, with each one's length."""
        global _get_many_js
        if not keys:
            return []
        if _get_many_js is None:
            _get_many_js = js.Function.new("map", "keys", _GET_MANY_JS)

        def read() -> list[bytes | None]:
            found = _get_many_js(self._doc.getMap(root), to_js(keys))
            data = found[0].to_bytes()
            lengths = array.array("i")
            lengths.frombytes(found[1].to_bytes())
            out: list[bytes | None] = []
            at = 0
            for n in lengths:
                out.append(None if n < 0 else data[at : at + n])
                at += max(n, 0)
            return out

        return _guard(read, "read")

    def roots(self) -> dict[str, dict[str, bytes]]:
        def read() -> dict[str, dict[str, bytes]]:
            value = self._doc.toJSON().to_py()  # one deep conversion; typed arrays arrive as buffers
            return {
                name: {k: _as_bytes(v) for k, v in entries.items() if _as_bytes(v) is not None}
                for name, entries in value.items()
                if isinstance(entries, dict)
            }

        return _guard(read, "read")

    def export_updates(self, since: VersionVector) -> bytes:
        return _guard(
            lambda: self._doc.export(_obj({"mode": "update", "from": _to_vv(since)})).to_bytes(), "export"
        )

    def export_snapshot(self) -> bytes:
        return _guard(lambda: self._doc.export(_obj({"mode": "snapshot"})).to_bytes(), "export")

    def import_(self, blob: bytes) -> ImportResult:
        status = _guard(lambda: getattr(self._doc, "import")(_u8(blob)), "import")  # `import`: a keyword
        # `pending` is null (None or jsnull, by Pyodide version) or a Map of what waits for dependencies
        return ImportResult(pending=bool(getattr(getattr(status, "pending", None), "size", 0)))

    def fork(self) -> JsLoroDoc:
        return JsLoroDoc(_guard(self._doc.fork, "fork"), peer=self.peer)

    def changes(self, peer: int, start: int, end: int) -> list[Change]:
        global _changes_js
        if end <= start:
            return []
        if _changes_js is None:
            _changes_js = js.Function.new("doc", "peer", "counter", "length", _CHANGES_JS)

        def export() -> list[dict[str, Any]]:
            found = _changes_js(self._doc, str(peer), start, end - start)
            raw = json.loads(found[0].to_bytes())  # UTF-8 bytes: a JS string crossed at a third of the speed
            data = found[1].to_bytes()
            places = array.array("i")
            places.frombytes(found[2].to_bytes())
            quads = iter(places)
            for c, o, at, n in zip(quads, quads, quads, quads, strict=True):
                raw[c]["ops"][o]["content"]["value"] = data[at : at + n]
            return raw

        return [change_from_json(raw) for raw in _guard(export, "export changes")]

    def change_at(self, peer: int, counter: int) -> Change | None:
        found = self.changes(peer, counter, counter + 1)
        return found[0] if found else None


# The splitter (crdt.BlobSplit) in a worker of its own, made from a blob: URL: it loads loro-crdt from beside
# the node's worker, reads a blob's header, imports it and posts it back as parts, every change after its
# dependencies (crdt.py's split_spans, here in JS), each an export of whole changes; a part's import is then one bounded call on the
# node's thread, where the blob's own header read and import took one call each that grows with it.
_SPLITTER_SOURCE = """
let loading = null;
const vv = (v) => Object.fromEntries(v.toJSON());
self.onmessage = async (e) => {
  const { id, blob, maxChanges } = e.data;
  const post = (m, t) => self.postMessage(Object.assign({ id }, m), t || []);
  let loro;
  try {
    loading ||= import(LORO).then(async (m) => { await m.default({ module_or_path: WASM }); return m; });
    loro = await loading;
  } catch (err) {
    post({ unavailable: String(err).slice(0, 200) });
    return;
  }
  let doc = null;
  try {
    const m = loro.decodeImportBlobMeta(blob, true);
    post({ meta: JSON.stringify([String(m.mode), m.changeNum, vv(m.partialStartVersionVector),
      vv(m.partialEndVersionVector), m.startFrontiers.map((i) => [String(i.peer), i.counter])]) });
    doc = new loro.LoroDoc();
    doc.import(blob);
    const all = [];
    for (const [peer, changes] of doc.getAllChanges()) {
      for (const c of changes) {
        all.push([c.lamport, String(peer), c.counter, c.length, c.deps.map((d) => [String(d.peer), d.counter])]);
      }
    }
    all.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[2] - b[2]));
    const chains = new Map();
    all.forEach((c, i) => {
      if (!chains.has(c[1])) chains.set(c[1], []);
      chains.get(c[1]).push(i);
    });
    const at = new Map();
    const have = new Map();
    const taken = new Uint8Array(all.length);
    let least = 0;
    let current = null;
    let spans = [];
    let size = 0;
    const flush = () => {
      const part = doc.export({ mode: 'updates-in-range', spans });
      post({ part }, [part.buffer]);
      spans = [];
      size = 0;
    };
    for (let n = 0; n < all.length; n++) {  // crdt.py's split_spans: an author's run while it is ready
      const chain = current === null ? [] : chains.get(current);
      const next = at.get(current) || 0;
      let i = next < chain.length ? chain[next] : -1;
      if (i < 0 || all[i][4].some(([p, c]) => (have.get(p) || 0) <= c)) {
        while (taken[least]) least++;
        i = least;
      }
      const [, peer, counter, len] = all[i];
      taken[i] = 1;
      at.set(peer, (at.get(peer) || 0) + 1);
      have.set(peer, counter + len);
      current = peer;
      const last = spans[spans.length - 1];
      if (last && last.id.peer === peer && last.id.counter + last.len === counter) last.len += len;
      else spans.push({ id: { peer, counter }, len });
      if (++size === maxChanges) flush();
    }
    if (size) flush();
    post({ done: true });
  } catch (err) {
    post({ error: String(err).slice(0, 200) });
  } finally {
    if (doc !== null) doc.free();
  }
};
"""
# the node's side: one splitter worker, made at the first split; a split reads its messages in order
_SPLIT_JS = """
let worker = null;
let next = 0;
const streams = new Map();
const start = () => {  // throws where there are no workers (Pyodide under Node)
  const source = SOURCE.replace('LORO', JSON.stringify(new URL('loro/index.js', self.location.href).href))
    .replace('WASM', JSON.stringify(new URL('loro/loro_wasm_bg.wasm', self.location.href).href));
  worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
  worker.onmessage = (e) => {
    const s = streams.get(e.data.id);
    if (s !== undefined) s.push(e.data);
  };
  worker.onerror = () => {
    for (const s of streams.values()) s.push({ unavailable: 'the splitter worker failed' });
    worker = null;
  };
};
const split = (blob, maxChanges) => {
  try {
    if (worker === null) start();
  } catch (err) {
    return null;
  }
  const id = next++;
  const queue = [];
  const waiting = [];
  streams.set(id, { push: (m) => {
    if (m.part === undefined && m.meta === undefined) streams.delete(id);  // its last message
    if (waiting.length) waiting.shift()(m); else queue.push(m);
  } });
  worker.postMessage({ id, blob, maxChanges }, [blob.buffer]);
  return {
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r))),
    close: () => { streams.delete(id); },
  };
};
return split;
""".replace("SOURCE", json.dumps(_SPLITTER_SOURCE))
_split_js: Any = None


class JsSplit:
    """crdt.BlobSplit over the splitter worker's messages: its header first, then the parts, then done."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def _message(self) -> Any:
        msg = await self._handle.next()
        if (why := getattr(msg, "unavailable", None)) is not None:
            raise SplitUnavailable(str(why))
        if (why := getattr(msg, "error", None)) is not None:
            raise CrdtError(f"split: {why}")
        return msg

    async def meta(self) -> BlobMeta:
        raw = getattr(await self._message(), "meta", None)
        if raw is None:
            raise CrdtError("split: no header")
        mode, count, start, end, frontiers = json.loads(str(raw))
        return _blob_meta(mode, count, _vv_dict(start), _vv_dict(end), frontiers)

    async def next(self) -> bytes | None:
        msg = await self._message()
        part = getattr(msg, "part", None)
        return None if part is None else bytes(part.to_bytes())

    def close(self) -> None:
        self._handle.close()


def split(blob: bytes, max_changes: int) -> JsSplit | None:
    """`blob` in parts of at most `max_changes` changes, made by the splitter worker; None where no worker can
    be made."""
    handle = _splitter()(_u8(blob), max_changes)
    return None if handle is None else JsSplit(handle)


def _splitter() -> Any:
    global _split_js
    if _split_js is None:
        _split_js = js.Function.new(_SPLIT_JS)()
    return _split_js


def blob_meta(blob: bytes) -> BlobMeta:
    def read() -> BlobMeta:
        meta = _loro().decodeImportBlobMeta(_u8(blob), True)
        return _blob_meta(
            str(meta.mode),
            meta.changeNum,
            _from_vv(meta.partialStartVersionVector),
            _from_vv(meta.partialEndVersionVector),
            ((i.peer, i.counter) for i in meta.startFrontiers),
        )

    return _guard(read, "blob metadata")
