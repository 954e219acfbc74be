"""The plain-Python canonical encoder (the tab's) gives cbor2's canonical bytes, or declines."""

from __future__ import annotations

import random
from typing import Any

import cbor2
import pytest

from pynode.wire import cbor, cbor_pure
from pynode.wire.errors import WireError

BOUNDARIES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 4 else 6)
    if pick == 0:
        n = rng.choice(BOUNDARIES) + rng.choice([0, 0, -1])
        return max(n, 0) if rng.random() < 0.5 else -max(n, 0) - 1
    if pick == 1:
        return "".join(
            rng.choice("az\u00e9\u4e2d\U0001f600 ") for _ in range(rng.choice([0, 1, 23, 24, 30, 300]))
        )
    if pick == 2:
        return rng.randbytes(rng.choice([0, 5, 23, 24, 255, 256, 70000]))
    if pick == 3:
        return rng.choice([True, False, None])
    if pick in (4, 5):
        return rng.randrange(-(2**20), 2**20)
    if pick == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 3, 24]))]
    if pick == 7:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(4)))
    keys = ["v", "ts", "sig", "kind", "body", "author", "a" * 23, "b" * 24, "\u00e9", "zz", "aaa", "\u4e2d"]
    return {k: _random_value(rng, depth + 1) for k in rng.sample(keys, rng.randrange(len(keys)))}


def test_random_values_encode_as_cbor2_canonical() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        value = _random_value(rng)
        assert cbor_pure.encode(value) == cbor2.dumps(value, canonical=True), value


@pytest.mark.parametrize("n", [*BOUNDARIES, *(-b - 1 for b in BOUNDARIES)])
def test_integer_heads_are_the_shortest(n: int) -> None:
    assert cbor_pure.encode(n) == cbor2.dumps(n, canonical=True)


@pytest.mark.parametrize(
    "value",
    [1.5, 2**64, -(2**64) - 1, {1: "int key"}, bytearray(b"x"), {"k": {2.0}}],
)
def test_outside_the_subset_it_declines_and_cbor_falls_back(value: Any) -> None:
    with pytest.raises(cbor_pure.Unsupported):
        cbor_pure.encode(value)


def test_a_str_subclass_is_left_to_cbor2() -> None:
    class Name(str):
        pass

    with pytest.raises(cbor_pure.Unsupported):
        cbor_pure.encode({"k": Name("x")})


def test_round_trip_through_the_strict_decoder() -> None:
    record = {"v": 1, "kind": "result", "author": bytes(32), "ts": 1_700_000_000_000, "body": {"a": [1, "x"]}}
    assert cbor.decode(cbor_pure.encode(record)) == record


def test_without_cbor2s_extension_encode_uses_it_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cbor, "_NATIVE_CBOR2", False)
    value = {"ops": [["k", b"v" * 30]], "peer": 2**62}
    assert cbor.encode(value) == cbor2.dumps(value, canonical=True)
    assert cbor.encode({"x": 1.5}) == cbor2.dumps({"x": 1.5}, canonical=True)  # a float: cbor2's


def _strict(buf: bytes, depth: int = 8) -> Any:
    """The strict decoder's verdict (scan, cbor2, re-encode): the value, or the WireError's reason."""
    try:
        return ("ok", cbor.decode(buf, max_depth=depth))
    except WireError as e:
        return ("error", e.reason)


def _fast(buf: bytes, depth: int = 8) -> Any:
    try:
        return ("ok", cbor_pure.decode(buf, depth))
    except cbor_pure.Unsupported:
        return ("declined", None)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (True is not 1, a list is not a tuple)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_decoding_agrees_with_the_strict_decoder_on_valid_and_mutated_frames() -> None:
    """Whatever the one-pass decoder returns, the strict one returns too; it declines everything else."""
    rng = random.Random(11)
    accepted = declined = 0
    for _ in range(1500):
        value = _random_value(rng)
        if isinstance(value, tuple):
            value = list(value)
        buf = cbor2.dumps(value, canonical=True)
        frames = [buf]
        for _ in range(6):
            m = bytearray(buf)
            op = rng.randrange(4)
            if op == 0 and m:
                m[rng.randrange(len(m))] = rng.randrange(256)
            elif op == 1 and m:
                del m[rng.randrange(len(m))]
            elif op == 2:
                m.insert(rng.randrange(len(m) + 1), rng.randrange(256))
            else:
                m += bytes([rng.randrange(256)])
            frames.append(bytes(m))
        for frame in frames:
            for depth in (8, 2):
                fast, strict = _fast(frame, depth), _strict(frame, depth)
                if fast[0] == "ok":
                    accepted += 1
                    assert strict[0] == "ok" and _same(fast[1], strict[1]), (frame.hex(), fast, strict)
                else:
                    declined += 1
    assert accepted > 1000 and declined > 1000  # both sides of the comparison were exercised


@pytest.mark.parametrize(
    "frame",
    [
        "1817",  # 23 in two bytes
        "190017",  # 23 in three bytes
        "a2616201616101",  # keys out of order
        "a2616101616102",  # a repeated key
        "a1010203",  # an integer key, trailing bytes
        "c11a00000000",  # a tag
        "f93c00",  # a half float
        "9f01ff",  # an indefinite array
        "62c328",  # invalid UTF-8
        "5a00000010",  # a byte string longer than the frame
        "0000",  # trailing bytes
        "818181818181818181818100",  # nested 10 deep
    ],
)
def test_it_declines_what_the_strict_decoder_refuses(frame: str) -> None:
    buf = bytes.fromhex(frame)
    assert _fast(buf)[0] == "declined"
    assert _strict(buf)[0] == "error"


def test_in_a_tab_decode_takes_the_one_pass_path_and_keeps_the_strict_reasons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cbor, "_NATIVE_CBOR2", False)
    value = {"v": 1, "body": {"a": [1, -2, b"x", "t", None, True]}}
    assert cbor.decode(cbor2.dumps(value, canonical=True)) == value
    with pytest.raises(WireError) as e:
        cbor.decode(bytes.fromhex("a2616201616101"))
    assert e.value.reason == "non_canonical"
