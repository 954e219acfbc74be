"""Binding every Loro change to the key that made it.

Loro accepts operations under any peer id; we make a change count only if
- its Loro peer id is `loro_peer(author)`, a hash of the author's Ed25519 key, so nobody else's changes can
  occupy the author's counter space (a forged change there would fork the author's history);
- its commit message is `hs1:` + base64url(author ‖ signature), the signature covering the change's id,
  lamport, dependencies, timestamp and every operation, under a domain-separation prefix and the document name;
- every operation inserts a binary value into the root map named after the author (`ns(author)`), at the key
  SHA-256(value), the value being a record signed by that same author, of the document's kind, not from the
  future. No deletes, no other containers.

`check_change` is context-free: it reads one change and nothing else, so a change valid once is valid in any
replica at any time, and the order in which updates arrive cannot change the verdict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache
from typing import NamedTuple

from pynode.identity import peer_id_text
from pynode.platform.crdt import Change
from pynode.state.limits import MAX_CERTIFICATE_BYTES
from pynode.state.records import DOC_KINDS, Record, decode_record, record_key, signed_bytes_from
from pynode.wire import cbor, cbor_pure
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_CLOCK_SKEW_MS

DOMAIN_CHANGE = b"hyperspace/1/state-change\x00"
DOMAIN_LORO_PEER = b"hyperspace/1/loro-peer\x00"
MESSAGE_PREFIX = "hs1:"


class Rejected(Exception):
    """An update breaks the rules: refuse it whole and penalise whoever sent it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@lru_cache(maxsize=4096)  # asked once per change checked: thousands for a cold start, from few authors
def loro_peer(author: bytes) -> int:
    """The Loro peer id of an author: 63 bits of a hash of its key (63 so JS BigInt/JSON never round it)."""
    return int.from_bytes(hashlib.sha256(DOMAIN_LORO_PEER + author).digest()[:8], "big") >> 1


@lru_cache(maxsize=4096)
def ns(author: bytes) -> str:
    """The root map an author writes into: the text form of its peer id (no '/', as Loro requires)."""
    return peer_id_text(author)


def change_payload(
    doc: str,
    peer: int,
    counter: int,
    lamport: int,
    deps: tuple[tuple[int, int], ...],
    timestamp: int,
    items: list[tuple[str, bytes]],
) -> bytes:
    """What a change's signature covers: the canonical CBOR of {doc, peer, counter, lamport, deps, ts, ops}."""
    try:
        return _payload(doc, peer, counter, lamport, deps, timestamp, items)
    except (cbor_pure.Unsupported, UnicodeEncodeError):  # another type, beyond 64 bits: the encoder decides
        pass
    body = {
        "doc": doc,
        "peer": peer,
        "counter": counter,
        "lamport": lamport,
        "deps": [list(d) for d in sorted(deps)],
        "ts": timestamp,
        "ops": [[k, v] for k, v in items],
    }
    return DOMAIN_CHANGE + cbor.encode(body)


def _payload(
    doc: str,
    peer: int,
    counter: int,
    lamport: int,
    deps: tuple[tuple[int, int], ...],
    timestamp: int,
    items: list[tuple[str, bytes]],
) -> bytes:
    """change_payload's bytes put together directly, keys in canonical order (shorter first, then bytewise): a
    cold start builds one per change, and the generic encoder walked some 15 items each (seconds in a tab).
    Raises Unsupported unless every value has its usual type; tests/test_state_payload.py compares the two."""
    head = cbor_pure.head
    parts = [
        DOMAIN_CHANGE,
        b"\xa7\x62ts",
        _int(timestamp),
        b"\x63doc",
        _name(doc),
        b"\x63ops",
        head(4, len(items)),
    ]
    for key, value in items:
        if type(value) is not bytes:
            raise cbor_pure.Unsupported("a value that is not bytes")
        parts += (b"\x82", _text(key), head(2, len(value)), value)
    parts += (b"\x64deps", head(4, len(deps)))
    for dep_peer, dep_counter in sorted(deps) if len(deps) > 1 else deps:
        parts += (b"\x82", _int(dep_peer), _int(dep_counter))
    parts += (b"\x64peer", _int(peer), b"\x67counter", _int(counter), b"\x67lamport", _int(lamport))
    return b"".join(parts)


# encoded integers and texts of payloads: a cold start's changes repeat the same peers, counters, lamports and
# document names thousands of times (bounded: past it, values are encoded each time)
_ENCODED_INTS: dict[int, bytes] = {}
_ENCODED_TEXTS: dict[str, bytes] = {}
_ENCODED_MAX = 4096


def _int(n: int) -> bytes:
    if type(n) is not int:  # before the cache: True == 1
        raise cbor_pure.Unsupported("not an integer")
    got = _ENCODED_INTS.get(n)
    if got is None:
        got = cbor_pure.head(0, n) if n >= 0 else cbor_pure.head(1, -1 - n)
        if len(_ENCODED_INTS) < _ENCODED_MAX:
            _ENCODED_INTS[n] = got
    return got


def _text(s: str) -> bytes:
    if type(s) is not str:
        raise cbor_pure.Unsupported("not text")
    b = s.encode("utf-8")
    return cbor_pure.head(3, len(b)) + b


def _name(s: str) -> bytes:
    """`_text` of a name that recurs (a document's), cached."""
    got = _ENCODED_TEXTS.get(s) if type(s) is str else None
    if got is None:
        got = _text(s)
        if len(_ENCODED_TEXTS) < _ENCODED_MAX:
            _ENCODED_TEXTS[s] = got
    return got


def encode_message(author: bytes, sig: bytes) -> str:
    return MESSAGE_PREFIX + base64.urlsafe_b64encode(author + sig).decode("ascii").rstrip("=")


_URLSAFE = bytes.maketrans(b"-_", b"+/")


def decode_message(message: str | None) -> tuple[bytes, bytes]:
    if not message or not message.startswith(MESSAGE_PREFIX) or len(message) != len(MESSAGE_PREFIX) + 128:
        raise Rejected("unsigned_change", "the commit message carries no signature")
    try:  # base64.urlsafe_b64decode's steps, without its calls (one per change of a cold start)
        raw = binascii.a2b_base64(message[len(MESSAGE_PREFIX) :].encode("ascii").translate(_URLSAFE) + b"==")
    except (binascii.Error, ValueError):
        raise Rejected("unsigned_change", "the commit message is not base64url") from None
    return raw[:32], raw[32:]


# Named tuples, not frozen dataclasses: a cold start makes three a change (a frozen dataclass sets each field
# through object.__setattr__), and a SigCheck is already the (public key, message, signature) verify_later takes
class SigCheck(NamedTuple):
    """A signature the caller must verify before the change may be imported."""

    public_key: bytes
    message: bytes
    sig: bytes


class CheckedChange(NamedTuple):
    author: bytes
    records: list[Record]
    sig_checks: list[SigCheck]


def check_change(doc: str, change: Change, now_ms: int) -> CheckedChange:
    """Structural verdict on one change; the signatures it returns still have to be verified."""
    author, sig = decode_message(change.message)
    if loro_peer(author) != change.peer:
        raise Rejected("forged_peer", "the change's Loro peer id is not its author's")
    root = f"cid:root-{ns(author)}:Map"
    kind = DOC_KINDS[doc]
    items: list[tuple[str, bytes]] = []
    records: list[Record] = []
    checks: list[SigCheck] = []
    if not change.ops or change.length != len(change.ops):
        raise Rejected("bad_op", "a change must hold only single-counter inserts")
    for op in change.ops:
        if op.kind == "delete":
            raise Rejected("delete", "records are never deleted")
        if op.container != root:
            raise Rejected("outside_namespace", f"writes into {op.container[:80]}")
        if op.kind != "insert" or not isinstance(op.key, str):
            raise Rejected("bad_op", f"operation {op.kind[:32]!r} is not allowed")
        value = op.value
        if not isinstance(value, bytes) or len(value) > MAX_CERTIFICATE_BYTES:  # per kind: decode_record
            raise Rejected("bad_value", "values are signed records of bounded size")
        if op.key != record_key(value):
            raise Rejected("bad_key", "a record's key must be the hash of its bytes")
        try:
            record = decode_record(value, op.key)  # its key: checked just above
        except WireError as e:
            raise Rejected("bad_record", e.reason) from None
        if record.author != author:
            raise Rejected("outside_namespace", "a record signed by someone else")
        if record.kind != kind or (kind == "result" and doc != f"results.{record.body['domain']}"):
            raise Rejected("wrong_document", f"a {record.kind} record in {doc}")
        if record.ts > now_ms + MAX_CLOCK_SKEW_MS:
            raise Rejected("from_future", "record timestamp is ahead of our clock")
        items.append((op.key, value))
        records.append(record)
        checks.append(SigCheck(author, signed_bytes_from(value, record), record.sig))
    payload = change_payload(
        doc, change.peer, change.counter, change.lamport, change.deps, change.timestamp, items
    )
    checks.append(SigCheck(author, payload, sig))
    return CheckedChange(author, records, checks)
