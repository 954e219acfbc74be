"""edwards25519 in pure Python: the group the browser's ECVRF runs on (Pyodide has no libsodium).

Points travel as their 32-byte RFC 8032 encodings; inside, they are extended coordinates (X:Y:Z:T) with
x = X/Z, y = Y/Z, x·y = T/Z, and the a = −1 formulas of Hisil–Wong–Carter–Dawson ("add-2008-hwcd-3",
"dbl-2008-hwcd"). Validity rules match libsodium's, so `PureEd25519Group` and the PyNaCl-backed group accept
and refuse exactly the same encodings (tests/test_vrf.py checks both on the same inputs).

Not constant-time: Python integers leak their size through timing. Verification handles only public data,
but a prover's secret scalar flows through `scalarmult`; a process that shares a CPU with an attacker able to
time it finely should prove with libsodium instead (CPython nodes always do).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

P = 2**255 - 19  # the field
L = 2**252 + 27742317777372353535851937790883648493  # order of the prime subgroup (and of the base point)
D = -121665 * pow(121666, P - 2, P) % P  # curve constant d of −x² + y² = 1 + d·x²·y²
D2 = 2 * D % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of −1
_Y_MASK = 2**255 - 1
_WINDOW = 4  # bits per window in scalar multiplication: 16-entry tables
_BASE_Y = 4 * pow(5, P - 2, P) % P
_POINTS_KEPT = 64  # decoded points remembered: more than one proof's or verification's worth
_VERDICTS_KEPT = 4096  # subgroup verdicts remembered: the public keys of a large committee, and then some
V = TypeVar("V")

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)
ZERO: Point = (0, 1, 1, 0)


def _add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _double(p: Point) -> Point:
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % P
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _negate(p: Point) -> Point:
    x, y, z, t = p
    return (P - x) % P, y, z, (P - t) % P


def _is_zero(p: Point) -> bool:
    x, y, z, _ = p
    return x % P == 0 and (y - z) % P == 0


def _decode(s: bytes) -> Point | None:
    """RFC 8032 §5.1.3 decoding; None for a non-canonical y, a y with no x, or x = 0 with the sign bit set."""
    if len(s) != 32:
        return None
    n = int.from_bytes(s, "little")
    y, sign = n & _Y_MASK, n >> 255
    if y >= P:
        return None
    yy = y * y % P
    u, v = (yy - 1) % P, (D * yy + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vxx = v * x * x % P
    if vxx == (P - u) % P:
        x = x * SQRT_M1 % P
    elif vxx != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def _encode(p: Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _table(p: Point) -> list[Point]:
    """[0·P, 1·P, …, 15·P] for one window."""
    table = [ZERO, p]
    for _ in range(2, 1 << _WINDOW):
        table.append(_add(table[-1], p))
    return table


def _mul(k: int, p: Point) -> Point:
    """k·P by fixed 4-bit windows, most significant first."""
    table = _table(p)
    acc = ZERO
    for shift in range((k.bit_length() + _WINDOW - 1) // _WINDOW * _WINDOW - _WINDOW, -1, -_WINDOW):
        acc = _double(_double(_double(_double(acc))))
        digit = (k >> shift) & 0xF
        if digit:
            acc = _add(acc, table[digit])
    return acc


_BASE_TABLES: list[list[Point]] = []  # _BASE_TABLES[i][j] = j·16^i·B: a base multiplication is 64 additions


def _base_tables() -> list[list[Point]]:
    if not _BASE_TABLES:  # built on first use (~1,000 additions), not at import
        p = _decode(_BASE_Y.to_bytes(32, "little"))
        assert p is not None
        for _ in range(256 // _WINDOW):
            _BASE_TABLES.append(_table(p))
            for _ in range(_WINDOW):
                p = _double(p)
    return _BASE_TABLES


def _mul_base(k: int) -> Point:
    acc = ZERO
    for table in _base_tables():
        if not k:
            break
        digit = k & 0xF
        if digit:
            acc = _add(acc, table[digit])
        k >>= _WINDOW
    return acc


class PureEd25519Group:
    """The `Ed25519Group` operations (pynode/platform/ed25519_group.py) in pure Python.

    Decoding costs a field exponentiation and a subgroup check a whole scalar multiplication, so the group
    remembers recent encodings' points (the steps of one proof hand each other encodings) and recent subgroup
    verdicts (the same public keys come back round after round). Both are pure functions of the bytes.
    """

    name = "pure"

    def __init__(self) -> None:
        self._points: OrderedDict[bytes, Point] = OrderedDict()
        self._verdicts: OrderedDict[bytes, bool] = OrderedDict()

    def is_valid_point(self, s: bytes) -> bool:
        """Canonical, on the curve, in the prime-order subgroup and not the identity (libsodium's
        `crypto_core_ed25519_is_valid_point`)."""
        verdict = self._verdicts.get(s)
        if verdict is None:
            p = self._load(s)
            # in the prime-order subgroup every point but the identity has order L: no small order, no torsion
            verdict = p is not None and not _is_zero(p) and _is_zero(_mul(L, p))
            _remember(self._verdicts, s, verdict, _VERDICTS_KEPT)
        return verdict

    def clear_cofactor(self, s: bytes) -> bytes | None:
        p = self._load(s)
        if p is None:
            return None
        return self._store(_double(_double(_double(p))))

    def scalarmult_base(self, k: int) -> bytes:
        return self._store(_mul_base(k % L))

    def scalarmult(self, k: int, s: bytes) -> bytes:
        return self._store(_mul(k % L, self._point(s)))

    def sub(self, a: bytes, b: bytes) -> bytes:
        return self._store(_add(self._point(a), _negate(self._point(b))))

    def _load(self, s: bytes) -> Point | None:
        p = self._points.get(s)
        if p is None:
            p = _decode(s)
            if p is not None:
                _remember(self._points, s, p, _POINTS_KEPT)
        return p

    def _point(self, s: bytes) -> Point:
        p = self._load(s)
        if p is None:
            raise ValueError("not the encoding of an edwards25519 point")
        return p

    def _store(self, p: Point) -> bytes:
        s = _encode(p)
        _remember(self._points, s, p, _POINTS_KEPT)
        return s


def _remember(cache: OrderedDict[bytes, V], key: bytes, value: V, keep: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > keep:
        cache.popitem(last=False)
