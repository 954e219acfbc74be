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
