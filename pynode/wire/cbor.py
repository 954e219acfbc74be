"""Deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) with a strict, bounded decoder.

Frames are canonical CBOR built from maps, arrays, text, bytes, integers, booleans and null only. Before
cbor2 sees a byte we walk the item headers once: this refuses non-text map keys, tags (cbor2 would otherwise build datetimes,
regexes or shared references from them), indefinite lengths, floats and other simple values, nesting beyond
MAX_DEPTH, and lengths that claim more bytes than the frame holds. After decoding, the value must re-encode to
exactly the input, so every value has one encoding and message ids cannot be malleated. A frame of bytes that
is one canonical item of that subset is decoded in a single pass instead (cbor_pure.decode: the same values,
tests/test_cbor_pure.py); whatever it declines takes the strict path, which says why.
"""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType
from typing import Any

from pynode.wire import cbor_pure
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_DEPTH, MAX_FRAME_BYTES

_SIMPLE_OK = {20, 21, 22}  # false, true, null


# cbor2 without its C extension (Pyodide) encodes a record ~14x slower than cbor_pure, which gives the same bytes
_NATIVE_CBOR2 = importlib.util.find_spec("_cbor2") is not None


@functools.cache  # on CPython every encode asks: ~90 ns cached against ~265 ns for the import statement
def _cbor2() -> ModuleType:
    """cbor2, imported on first use: without its C extension (a tab) only frames outside cbor_pure's subset need
    it, and importing it (with datetime) took ~20 ms of a tab's start."""
    import cbor2

    return cbor2


def encode(value: Any) -> bytes:
    if not _NATIVE_CBOR2:
        try:
            return cbor_pure.encode(value)
        except Exception:  # outside its subset (or unencodable): cbor2 decides, and raises its own error
            pass
    return _cbor2().dumps(value, canonical=True)


def _scan(buf: bytes, limit_depth: int) -> None:
    """Check well-formedness and our subset without building any object (iterative: no recursion)."""
    n = len(buf)
    pos = 0
    # open containers as [items left, is a map]; the root is one item. In a map, every even item is a key.
    stack = [[1, False]]
    while stack:
        top = stack[-1]
        if top[0] == 0:
            stack.pop()
            continue
        is_key = top[1] and top[0] % 2 == 0
        top[0] -= 1
        if pos >= n:
            raise WireError("truncated", "frame ends inside an item")
        initial = buf[pos]
        pos += 1
        major, info = initial >> 5, initial & 31
        if is_key and major != 3:
            raise WireError("bad_type", "map keys must be text")
        if major == 7:
            if info not in _SIMPLE_OK:
                raise WireError("bad_type", f"simple value/float {info} not allowed")
            continue
        if info < 24:
            arg = info
        elif info <= 27:
            size = 1 << (info - 24)
            if pos + size > n:
                raise WireError("truncated", "frame ends inside a length")
            arg = int.from_bytes(buf[pos : pos + size], "big")
            pos += size
        elif info == 31:
            raise WireError("non_canonical", "indefinite length")
        else:
            raise WireError("malformed_cbor", f"reserved additional info {info}")
        if major == 6:
            raise WireError("bad_type", "CBOR tags are not allowed")
        if major in (2, 3):
            if arg > n - pos:
                raise WireError("truncated", "string longer than the frame")
            pos += arg
        elif major in (4, 5):
            items = arg if major == 4 else 2 * arg
            if items > n - pos:  # every item needs at least one byte
                raise WireError("truncated", "container longer than the frame")
            if len(stack) > limit_depth:
                raise WireError("too_deep", f"nesting deeper than {limit_depth}")
            stack.append([items, major == 5])
    if pos != n:
        raise WireError("trailing_bytes", f"{n - pos} bytes after the value")


def decode(buf: bytes, max_bytes: int = MAX_FRAME_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one canonical CBOR value; raises WireError on anything else."""
    if len(buf) > max_bytes:
        raise WireError("oversized", f"{len(buf)} bytes > {max_bytes}")
    if type(buf) is bytes:  # one pass: 3x faster than the three below even with cbor2's C extension
        try:
            return cbor_pure.decode(buf, max_depth)  # a canonical item; anything else is refused below
        except cbor_pure.Unsupported:  # below, with the reason
            pass
    _scan(buf, max_depth)
    try:
        value = _cbor2().loads(buf)
    except Exception as e:  # cbor2 raises several types (CBORDecodeError, UnicodeDecodeError, ...)
        raise WireError("malformed_cbor", str(e)[:200]) from None
    try:
        canonical = encode(value)
    except Exception as e:  # e.g. a map keyed by a list decodes but cannot be hashed/encoded back
        raise WireError("malformed_cbor", str(e)[:200]) from None
    if canonical != bytes(buf):
        raise WireError("non_canonical", "value has a shorter or ordered encoding")
    return value
