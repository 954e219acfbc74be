"""The plain-Python canonical encoder (the tab's) gives cbor2's canonical bytes, or declines."""

from __future__ import annotations

import random
from typing import Any

import cbor2
import pytest

from pynode.wire import cbor, cbor_pure

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
