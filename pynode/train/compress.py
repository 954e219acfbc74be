"""Pseudo-gradient codecs in plain Python over `array`: fp32, int8 per-chunk, top-k with error feedback.

The browser has no numpy, and every participant must decode a delta to the very same floats: so codecs use
only IEEE-exact arithmetic on Python floats (no libm, no `sum()` — whose algorithm changed in Python 3.12,
and the browser runs 3.14). Decoding is strict: a payload of the wrong length, a non-finite value, an index
out of range or out of order is refused before anything is built from it.
"""

from __future__ import annotations

import math
import struct
from array import array

from pynode.train.aggregate import all_finite
from pynode.wire.errors import WireError

CODECS = ("fp32", "int8", "topk")
INT8_CHUNK = 256  # values sharing one scale: smaller chunks track outliers, at 4/CHUNK bytes per value
TOPK_FRACTION = 0.02  # fraction of coordinates a top-k delta carries


class Codec:
    """Stateless codecs, plus top-k's error-feedback residual (one Codec per sender and run)."""

    def __init__(self, name: str, n: int, topk_fraction: float = TOPK_FRACTION) -> None:
        if name not in CODECS:
            raise ValueError(f"unknown codec {name!r}; one of {', '.join(CODECS)}")
        self.name, self.n = name, n
        self.k = max(1, int(n * topk_fraction))
        self.residual = array("f", bytes(4 * n)) if name == "topk" else None

    def max_payload(self) -> int:
        return {"fp32": 4 * self.n, "int8": self.n + 4 * -(-self.n // INT8_CHUNK), "topk": 4 + 8 * self.k}[
            self.name
        ]

    def encode(self, delta: array) -> bytes:
        if len(delta) != self.n:
            raise ValueError(f"delta has {len(delta)} values, expected {self.n}")
        if self.name == "fp32":
            return delta.tobytes()
        if self.name == "int8":
            return encode_int8(delta)
        assert self.residual is not None
        # error feedback (Stich et al. 2018): what top-k drops now is added to the next round's delta
        acc = array("f", [a + r for a, r in zip(delta, self.residual, strict=False)])
        payload, sent = encode_topk(acc, self.k)
        self.residual = array("f", [a - s for a, s in zip(acc, sent, strict=False)])
        return payload

    def decode(self, payload: bytes) -> array:
        if self.name == "fp32":
            if len(payload) != 4 * self.n:
                raise WireError("bad_delta", f"fp32 delta of {len(payload)} bytes, expected {4 * self.n}")
            out = array("f", payload)
            if not all_finite(out):
                raise WireError("bad_delta", "non-finite value")
            return out
        if self.name == "int8":
            return decode_int8(payload, self.n)
        return decode_topk(payload, self.n, self.k)


def encode_int8(delta: array) -> bytes:
    """Per chunk of INT8_CHUNK values: one float32 scale (max |x| / 127), then round(x / scale) as int8."""
    n = len(delta)
    scales = array("f")
    q = array("b")
    for lo in range(0, n, INT8_CHUNK):
        chunk = delta[lo : lo + INT8_CHUNK]
        scales.append(max(map(abs, chunk)) / 127.0)
        scale = scales[-1]  # the float32-rounded value, as the decoder will see it
        if scale == 0.0:
            q.extend(array("b", bytes(len(chunk))))
        else:
            q.extend(array("b", [max(-127, min(127, round(x / scale))) for x in chunk]))
    return scales.tobytes() + q.tobytes()


def decode_int8(payload: bytes, n: int) -> array:
    chunks = -(-n // INT8_CHUNK)
    if len(payload) != 4 * chunks + n:
        raise WireError("bad_delta", f"int8 delta of {len(payload)} bytes, expected {4 * chunks + n}")
    scales = array("f", payload[: 4 * chunks])
    if not all(math.isfinite(s) and s >= 0.0 for s in scales):
        raise WireError("bad_delta", "int8 scales must be finite and non-negative")
    q = array("b", payload[4 * chunks :])
    out = array("f", bytes(4 * n))
    for c in range(chunks):
        lo = c * INT8_CHUNK
        s = scales[c]
        out[lo : lo + INT8_CHUNK] = array("f", [v * s for v in q[lo : lo + INT8_CHUNK]])
    if not all_finite(out):  # a finite scale near float32's limit times 127 overflows to inf
        raise WireError("bad_delta", "an int8 value decodes to a non-finite float")
    return out


def encode_topk(acc: array, k: int) -> tuple[bytes, array]:
    """The k largest |values| (ties: lower index first), indices ascending: (payload, dense sent vector)."""
    top = sorted(range(len(acc)), key=lambda i: (-abs(acc[i]), i))[:k]
    top.sort()
    values = array("f", [acc[i] for i in top])
    sent = array("f", bytes(4 * len(acc)))
    for i, v in zip(top, values, strict=False):
        sent[i] = v
    return struct.pack("<I", k) + array("I", top).tobytes() + values.tobytes(), sent


def decode_topk(payload: bytes, n: int, k: int) -> array:
    if len(payload) != 4 + 8 * k or struct.unpack_from("<I", payload)[0] != k:
        raise WireError("bad_delta", f"top-k delta must carry exactly k={k} entries")
    idx = array("I", payload[4 : 4 + 4 * k])
    values = array("f", payload[4 + 4 * k :])
    if any(b <= a for a, b in zip(idx, idx[1:], strict=False)) or (k and idx[-1] >= n):
        raise WireError("bad_delta", "top-k indices must be strictly increasing and below n")
    if not all_finite(values):
        raise WireError("bad_delta", "non-finite value")
    out = array("f", bytes(4 * n))
    for i, v in zip(idx, values, strict=False):
        out[i] = v
    return out
