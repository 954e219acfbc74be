"""Deterministic CBOR encoding in plain Python, for where cbor2's C extension is missing (Pyodide).

cbor2's pure-Python encoder spends most of its time in a context manager per value and in encoding every map
key a second time to sort it: in a tab, encoding 5,000 records took seconds. This encoder covers exactly what
the wire carries (maps with text keys, arrays, text, bytes, integers of at most 64 bits, booleans, null) and
raises `Unsupported` for anything else, which the caller then hands to cbor2; so the bytes are always cbor2's
canonical ones (tests/test_cbor_pure.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Unsupported(Exception):
    """A value outside the subset above (a float, a tag, a subclass, a huge integer): cbor2 encodes it."""


_SMALL = tuple(tuple(bytes((major << 5 | n,)) for n in range(24)) for major in range(8))
_KEYS: dict[str, bytes] = {}  # encoded map keys: the wire's few field names, encoded once
_KEYS_MAX = 1024  # the cache stops growing here (keys of user-chosen maps, e.g. subscores, are unbounded)


def _head(major: int, n: int) -> bytes:
    """The initial byte and argument of an item: the shortest form, as RFC 8949 §4.2.1 requires."""
    if n < 24:
        return _SMALL[major][n]
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x1_0000_0000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    if n < 0x1_0000_0000_0000_0000:
        return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")
    raise Unsupported("integer beyond 64 bits")


head = _head  # for encoders of one fixed shape built on it (state/authorship.py's change payload)


def encode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out.append)
    return b"".join(out)


def _encode(v: Any, out: Callable[[bytes], None]) -> None:
    t = type(v)  # exact types only: a subclass may encode otherwise in cbor2
    if t is str:
        b = v.encode("utf-8")
        out(_head(3, len(b)))
        out(b)
    elif t is bytes:
        out(_head(2, len(v)))
        out(v)
    elif t is int:
        out(_head(0, v) if v >= 0 else _head(1, -1 - v))
    elif t is dict:
        items = []
        for k, x in v.items():
            key = _KEYS.get(k)
            if key is None:
                if type(k) is not str:
                    raise Unsupported("a map key that is not text")
                kb = k.encode("utf-8")
                key = _head(3, len(kb)) + kb
                if len(_KEYS) < _KEYS_MAX:
                    _KEYS[k] = key
            items.append((len(key), key, x))
        items.sort()  # cbor2's canonical order: shorter keys first, then bytewise (keys differ: x never compared)
        out(_head(5, len(items)))
        for _, key, x in items:
            out(key)
            _encode(x, out)
    elif t is list or t is tuple:
        out(_head(4, len(v)))
        for x in v:
            _encode(x, out)
    elif t is bool:
        out(b"\xf5" if v else b"\xf4")
    elif v is None:
        out(b"\xf6")
    else:
        raise Unsupported(t.__name__)


# ---- decoding ---------------------------------------------------------------------------------------------


def decode(buf: bytes, max_depth: int) -> Any:
    """The value of `buf` when it is one canonical item of the subset above, with containers nested at most
    `max_depth` deep; raises Unsupported for anything else (malformed, non-canonical, too deep, trailing bytes,
    tags, floats...), and the caller's strict decoder then says exactly why. So whatever this returns, the
    strict decoder would have returned too, in one pass instead of three (scan, cbor2, re-encode)."""
    try:
        value, pos = _item(buf, 0, max_depth, len(buf))
    except (IndexError, UnicodeDecodeError):
        raise Unsupported("malformed") from None
    if pos != len(buf):
        raise Unsupported("trailing bytes")
    return value


def decode_at(buf: bytes, pos: int, max_depth: int) -> tuple[Any, int]:
    """`decode` of the one item at `pos` (nested at most `max_depth` deep) and where it ends, for a caller that
    reads a frame of one fixed canonical layout itself (state/records.py); raises Unsupported likewise."""
    try:
        return _item(buf, pos, max_depth, len(buf))
    except (IndexError, UnicodeDecodeError):
        raise Unsupported("malformed") from None


_MIN_ARG = {24: 24, 25: 0x100, 26: 0x1_0000, 27: 0x1_0000_0000}  # shorter forms exist below these
_KEY_TEXT: dict[bytes, str] = {}  # short map keys as encoded (head included) -> their text: decoded once
_SIMPLE = {0xF4: False, 0xF5: True, 0xF6: None}

# A container's items are mostly small integers, short texts and short byte strings: they are read in the
# container's own loop rather than by a call each (in a tab, calls and len() were most of a record's decoding).


def _item(buf: bytes, pos: int, depth: int, end: int) -> tuple[Any, int]:
    """The item at `pos` and where it ends; `end` is len(buf)."""
    initial = buf[pos]
    pos += 1
    major, n = initial >> 5, initial & 31
    if major == 7:
        if initial in _SIMPLE:
            return _SIMPLE[initial], pos
        raise Unsupported("simple value or float")
    if n >= 24:
        if n > 27:
            raise Unsupported("indefinite or reserved length")
        size = 1 << (n - 24)
        if pos + size > end:
            raise Unsupported("truncated")
        arg = int.from_bytes(buf[pos : pos + size], "big")
        if arg < _MIN_ARG[n]:
            raise Unsupported("not the shortest form")
        n = arg
        pos += size
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        stop = pos + n
        if stop > end:
            raise Unsupported("truncated")
        return (buf[pos:stop] if major == 2 else buf[pos:stop].decode("utf-8")), stop
    if major == 6 or depth < 1:
        raise Unsupported("tag, or nested too deep")
    return (_array if major == 4 else _map)(buf, pos, n, depth - 1, end)


def _array(buf: bytes, pos: int, n: int, depth: int, end: int) -> tuple[list[Any], int]:
    """The `n` items of an array from `pos`, each nested at most `depth` deep."""
    out: list[Any] = []
    for _ in range(n):
        b = buf[pos]
        if b < 0x18:  # an integer below 24
            out.append(b)
            pos += 1
        elif 0x40 <= b < 0x58 or 0x60 <= b < 0x78:  # a short byte or text string
            stop = pos + 1 + (b & 31)
            if stop > end:
                raise Unsupported("truncated")
            out.append(buf[pos + 1 : stop] if b < 0x58 else buf[pos + 1 : stop].decode("utf-8"))
            pos = stop
        else:
            value, pos = _item(buf, pos, depth, end)
            out.append(value)
    return out, pos


def _map(buf: bytes, pos: int, n: int, depth: int, end: int) -> tuple[dict[str, Any], int]:
    """The `n` entries of a map from `pos`: text keys in canonical order, values nested at most `depth` deep."""
    d: dict[str, Any] = {}
    last, last_len = b"", 0
    for _ in range(n):
        start = pos
        head = buf[pos]
        if head >> 5 != 3:
            raise Unsupported("a map key that is not text")
        if head < 0x78:  # a short key (under 24 bytes, the wire's field names): read here, not by recursion
            pos += 1 + (head & 31)
            if pos > end:
                raise Unsupported("truncated")
            encoded = buf[start:pos]
            key = _KEY_TEXT.get(encoded)
            if key is None:
                key = encoded[1:].decode("utf-8")
                if len(_KEY_TEXT) < _KEYS_MAX:
                    _KEY_TEXT[encoded] = key
        else:
            key, pos = _item(buf, pos, depth, end)
            encoded = buf[start:pos]
        size = pos - start  # len(encoded)
        if size < last_len or (size == last_len and encoded <= last):
            raise Unsupported("map keys out of canonical order, or repeated")
        last, last_len = encoded, size
        b = buf[pos]
        if b < 0x18:
            d[key] = b
            pos += 1
        elif 0x40 <= b < 0x58 or 0x60 <= b < 0x78:
            stop = pos + 1 + (b & 31)
            if stop > end:
                raise Unsupported("truncated")
            d[key] = buf[pos + 1 : stop] if b < 0x58 else buf[pos + 1 : stop].decode("utf-8")
            pos = stop
        else:
            d[key], pos = _item(buf, pos, depth, end)
    return d, pos
