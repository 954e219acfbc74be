"""A change's signed payload (state/authorship.change_payload), put together directly, is byte for byte the
canonical CBOR the generic encoder gives for the same map, whatever the values; values of other types go through
the encoder."""

from __future__ import annotations

import random

import cbor2
import pytest

from pynode.state.authorship import DOMAIN_CHANGE, change_payload

BOUNDARIES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1]


def reference(doc, peer, counter, lamport, deps, ts, items) -> bytes:
    body = {"doc": doc, "peer": peer, "counter": counter, "lamport": lamport,
            "deps": [list(d) for d in sorted(deps)], "ts": ts, "ops": [[k, v] for k, v in items]}  # fmt: skip
    return DOMAIN_CHANGE + cbor2.dumps(body, canonical=True)


def test_the_payload_is_the_canonical_encoding_of_its_map():
    rng = random.Random(14)
    ints = BOUNDARIES + [-1, -24, -25, -256, -257, -(2**63)]
    texts = ["", "results.ml", "é", "x" * 23, "y" * 24, "z" * 300, "\u2603" * 90]
    for _ in range(2000):
        args = (
            rng.choice(texts),
            rng.choice(BOUNDARIES),
            rng.choice(BOUNDARIES),
            rng.choice(BOUNDARIES),
            tuple((rng.choice(BOUNDARIES), rng.choice(BOUNDARIES)) for _ in range(rng.randrange(4))),
            rng.choice(ints),
            [
                (rng.choice(texts), rng.randbytes(rng.choice([0, 23, 24, 300, 70000])))
                for _ in range(rng.randrange(4))
            ],
        )
        assert change_payload(*args) == reference(*args), args


@pytest.mark.parametrize(
    "field, odd",
    [
        (5, 2**64),  # a timestamp beyond 64 bits
        (5, -(2**64) - 1),
        (1, True),  # a bool is not an integer on the wire
        (6, [("k", bytearray(b"v"))]),
        (6, [("k", "text")]),
    ],
)
def test_values_of_other_types_go_through_the_encoder(field, odd):
    args = ["results.ml", 7, 3, 9, ((1, 2),), 0, [("k", b"v")]]
    args[field] = odd
    assert change_payload(*args) == reference(*args)
