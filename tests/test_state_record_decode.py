"""decode_record reads a canonical record's fields in place (records._canonical_fields); whatever the bytes, it
comes to the verdict the generic decoder (cbor.decode, then the field checks) comes to: the same record, or the
same refusal."""

from __future__ import annotations

import random

from pynode.identity import Identity
from pynode.state.records import (
    MAX_CERTIFICATE_BYTES,
    RECORD_KEYS,
    RECORD_VERSION,
    SCHEMAS,
    Record,
    decode_record,
    make_record,
    max_bytes,
)
from pynode.state.sync import run_sync
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int

RESULT = {"domain": "ml", "task": "t-1", "metric": "val_loss", "unit": "nats", "direction": "min",
          "value": "1.5", "seeds": 3}  # fmt: skip


def generic(encoded: bytes) -> Record:
    """decode_record as it was before its in-place reading."""
    d = expect_map(cbor.decode(encoded, max_bytes=MAX_CERTIFICATE_BYTES), "record", RECORD_KEYS)
    if d["v"] != RECORD_VERSION:
        raise WireError("bad_field", f"record version {d['v']!r} is not {RECORD_VERSION}")
    kind = d["kind"]
    if kind not in SCHEMAS:
        raise WireError("bad_field", f"unknown record kind {str(kind)[:32]!r}")
    if not isinstance(d["body"], dict):
        raise WireError("bad_type", "body must be a map")
    if len(encoded) > max_bytes(kind):
        raise WireError("oversized", f"a {kind} record of {len(encoded)} bytes > {max_bytes(kind)}")
    SCHEMAS[kind](d["body"])
    return Record(
        kind, get_bytes(d, "author", 32), get_int(d, "ts"), d["body"], get_bytes(d, "sig", 64), encoded
    )


def verdict(decode, encoded: bytes):
    try:
        r = decode(encoded)
    except WireError as e:
        return ("refused", e.reason, str(e))
    return ("record", r, r.encoded, r.author, r.sig, r.ts, type(r.ts))


def records() -> list[bytes]:
    me = run_sync(Identity.generate()).signer
    out = []
    for ts in (0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63):
        out.append(run_sync(make_record(me, "result", RESULT, ts)).encoded)
    profile = {"name": "n", "caps": ["train"], "services": {"inference": {"per_min": 5, "models": ["m"]}}}
    out.append(run_sync(make_record(me, "profile", profile, 1)).encoded)
    return out


def test_every_mutation_of_a_record_gets_the_generic_verdict():
    rng = random.Random(14)
    base = records()
    for encoded in base:
        assert verdict(decode_record, encoded) == verdict(generic, encoded)
        assert verdict(decode_record, encoded)[0] == "record"
    for _ in range(6000):
        b = bytearray(rng.choice(base))
        for _ in range(rng.randrange(1, 3)):
            op = rng.randrange(4)
            i = rng.randrange(len(b))
            if op == 0:
                b[i] = rng.randrange(256)
            elif op == 1:
                b[i] ^= 1 << rng.randrange(8)
            elif op == 2:
                del b[i : i + rng.randrange(1, 4)]
            else:
                b[i:i] = rng.randbytes(rng.randrange(1, 4))
        mutated = bytes(b)
        assert verdict(decode_record, mutated) == verdict(generic, mutated), mutated.hex()


def test_records_of_other_shapes_get_the_generic_verdict():
    me = run_sync(Identity.generate()).signer
    good = run_sync(make_record(me, "result", RESULT, 5))
    fields = {"v": RECORD_VERSION, "kind": "result", "author": me.public_key, "ts": 5, "body": RESULT,
              "sig": good.sig}  # fmt: skip
    odd = [
        {**fields, "v": 2},
        {**fields, "ts": -1},
        {**fields, "ts": True},
        {**fields, "sig": good.sig[:63]},
        {**fields, "author": me.public_key + b"x"},
        {**fields, "kind": "nothing"},
        {**fields, "kind": 7},
        {**fields, "body": [1]},
        {**fields, "body": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}}},
        {**fields, "extra": 1},
        {k: v for k, v in fields.items() if k != "sig"},
    ]
    for value in odd:
        encoded = cbor.encode(value)
        assert verdict(decode_record, encoded) == verdict(generic, encoded), value
    big = cbor.encode({**fields, "body": {**RESULT, "hypothesis": "h" * (MAX_CERTIFICATE_BYTES + 1)}})
    assert verdict(decode_record, big) == verdict(generic, big)
    assert verdict(decode_record, bytearray(good.encoded)) == verdict(generic, bytearray(good.encoded))
