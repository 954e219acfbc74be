"""Pseudo-gradient codecs in plain Python over `array`: fp32, int8 per-chunk, int4 per-chunk and top-k — the
last two with error feedback.

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

CODECS = ("fp32", "int8", "topk", "int4")
INT8_CHUNK = 256  # values sharing one scale: smaller chunks track outliers, at 4/CHUNK bytes per value
INT4_LEVELS = 7  # int4 values are -7..7 (nibble 0, which would be -8, is refused: a symmetric range)
TOPK_FRACTION = 0.02  # fraction of coordinates a top-k delta carries
ERROR_FEEDBACK = ("int4", "topk")  # codecs whose sender adds what it did not send to its next delta


class Codec:
    """Stateless codecs, plus the error-feedback residual of int4 and top-k (one Codec per sender and run)."""

    def __init__(self, name: str, n: int, topk_fraction: float = TOPK_FRACTION) -> None:
        if name not in CODECS:
            raise ValueError(f"unknown codec {name!r}; one of {', '.join(CODECS)}")
        self.name, self.n = name, n
        self.k = max(1, int(n * topk_fraction))
        self.residual = array("f", bytes(4 * n)) if name in ERROR_FEEDBACK else None

    def max_payload(self) -> int:
        chunks = 4 * -(-self.n // INT8_CHUNK)
        sizes = {"fp32": 4 * self.n, "int8": self.n + chunks, "int4": (self.n + 1) // 2 + chunks}
        return sizes.get(self.name, 4 + 8 * self.k)

    def encode(self, delta: array) -> bytes:
        if len(delta) != self.n:
            raise ValueError(f"delta has {len(delta)} values, expected {self.n}")
        if self.name == "fp32":
            return delta.tobytes()
        if self.name == "int8":
            return encode_int8(delta)
        assert self.residual is not None
        # error feedback (Stich et al. 2018): what top-k drops or int4 rounds away now is added to the next
        # round's delta, so nothing is lost, only late
        acc = array("f", [a + r for a, r in zip(delta, self.residual, strict=False)])
        if self.name == "int4":
            payload = encode_int4(acc)
            sent = decode_int4(payload, self.n)  # what every receiver will see
        else:
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
        if self.name == "int4":
            return decode_int4(payload, self.n)
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
            q.extend(array("b", _levels(chunk, scale, 127)))
    return scales.tobytes() + q.tobytes()


def _levels(chunk: array, scale: float, top: int) -> list[int]:
    """round(x / scale) for each value, within ±top (clamping only in the rare chunk that needs it: the
    float32-rounded scale can put the largest value a hair past ±top)."""
    q = [round(x / scale) for x in chunk]
    if max(q) > top or min(q) < -top:
        q = [max(-top, min(top, v)) for v in q]
    return q


def decode_int8(payload: bytes, n: int) -> array:
    chunks = -(-n // INT8_CHUNK)
    if len(payload) != 4 * chunks + n:
        raise WireError("bad_delta", f"int8 delta of {len(payload)} bytes, expected {4 * chunks + n}")
    return _dequantize(array("f", payload[: 4 * chunks]), array("b", payload[4 * chunks :]), n, "int8")


def _dequantize(scales: array, q: array, n: int, codec: str) -> array:
    """Value i is q[i] × the scale of its chunk; refused unless every scale and every value is finite."""
    if not all(math.isfinite(s) and s >= 0.0 for s in scales):
        raise WireError("bad_delta", f"{codec} scales must be finite and non-negative")
    out = array("f", bytes(4 * n))
    for c in range(len(scales)):
        lo = c * INT8_CHUNK
        s = scales[c]
        out[lo : lo + INT8_CHUNK] = array("f", [v * s for v in q[lo : lo + INT8_CHUNK]])
    if not all_finite(out):  # a finite scale near float32's limit times 127 (or 7) overflows to inf
        raise WireError("bad_delta", f"an {codec} value decodes to a non-finite float")
    return out


# int4 packs two values per byte as nibbles v + 8 (low nibble first): 1..15 are -7..7, nibble 0 is refused
_LOW = bytes((b & 15) - 8 & 0xFF for b in range(256))  # the low nibble's value, as a signed byte
_HIGH = bytes((b >> 4) - 8 & 0xFF for b in range(256))


def encode_int4(delta: array) -> bytes:
    """Per chunk of INT8_CHUNK values: one float32 scale (max |x| / 7), then round(x / scale) in 4 bits; an
    odd count is padded with the value 0."""
    n = len(delta)
    scales = array("f")
    nibbles = bytearray()
    for lo in range(0, n, INT8_CHUNK):
        chunk = delta[lo : lo + INT8_CHUNK]
        scales.append(max(map(abs, chunk)) / INT4_LEVELS)
        scale = scales[-1]  # the float32-rounded value, as the decoder will see it
        if scale == 0.0:
            nibbles.extend(bytes([8]) * len(chunk))
        else:
            nibbles.extend(v + 8 for v in _levels(chunk, scale, INT4_LEVELS))
    if n % 2:
        nibbles.append(8)
    return scales.tobytes() + bytes(a | b << 4 for a, b in zip(nibbles[0::2], nibbles[1::2], strict=True))


def decode_int4(payload: bytes, n: int) -> array:
    chunks = -(-n // INT8_CHUNK)
    packed = (n + 1) // 2
    if len(payload) != 4 * chunks + packed:
        raise WireError("bad_delta", f"int4 delta of {len(payload)} bytes, expected {4 * chunks + packed}")
    body = payload[4 * chunks :]
    q = bytearray(2 * packed)
    q[0::2] = body.translate(_LOW)
    q[1::2] = body.translate(_HIGH)
    values = array("b", q)
    if min(values, default=0) < -INT4_LEVELS or (n % 2 and values[n] != 0):
        raise WireError("bad_delta", "int4 nibble 0 is no value, and an odd count pads with the value 0")
    return _dequantize(array("f", payload[: 4 * chunks]), values[:n], n, "int4")


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
