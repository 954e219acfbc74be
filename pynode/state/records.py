"""Signed records: the only values the replicated state holds.

A record is deterministic CBOR `{v, kind, author, ts, body, sig}`; `sig` is the author's Ed25519 signature over
the CBOR of every other field behind a domain-separation prefix. Its key is the SHA-256 (hex) of the whole
signed encoding, so a key names exactly one value and a value cannot be altered in place.

Schemas are strict: exact key sets, bounded text, no floats (the wire's CBOR has none). Metric values are
decimal text compared exactly with `Decimal`, so every platform ranks the same way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from pynode.identity import Signer, verify
from pynode.state.limits import (
    MAX_CERTIFICATE_BYTES,
    MAX_CERTIFICATE_COSIGS,
    MAX_CERTIFICATE_PARTICIPANTS,
    MAX_CERTIFICATE_STRIKES,
    MAX_FIGURE_BYTES,
    MAX_FIGURES,
    MAX_PAPER_MARKDOWN,
    MAX_PROFILE_SERVICES,
    MAX_RECEIPT_COUNT,
    MAX_RECEIPT_UNITS,
    MAX_RECORD_BYTES,
    MAX_RESULT_CONFIG,
    MAX_RESULT_SAMPLES,
    MAX_REVIEW_SUBSCORES,
    MAX_SERVICE_FIELDS,
    MAX_SERVICE_LIST,
    MAX_SERVICE_TEXT,
    MAX_STRIKE_EVIDENCE_BYTES,
    MAX_TASK_CAPS,
    MAX_TASK_COMPUTE_S,
    MAX_TASK_MEMORY_MB,
    MAX_TASK_ORCHESTRATORS,
    MAX_TASK_SLOTS,
    MAX_TASK_SPEC,
    MAX_TASK_TITLE,
    MAX_TRAINING_PEERS,
    MAX_TRAINING_ROUNDS,
)
from pynode.wire import cbor, cbor_pure
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_DEPTH
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list, get_str

DOMAIN_RECORD = b"hyperspace/1/state-record\x00"
RECORD_VERSION = 1
DOMAINS = ("ml", "search", "finance", "skills", "causes")

# One document per concern (DESIGN.md §6), and the record kind each one holds.
DOC_KINDS: dict[str, str] = {
    "identities": "profile",
    **{f"results.{d}": "result" for d in DOMAINS},
    "reviews": "review",
    "papers": "paper",
    "points": "points",
    "presence": "certificate",
    "receipts": "receipt",
    "tasks": "task",
    "assignments": "assignment",
    "task_replies": "task_reply",
}
DOCS = tuple(DOC_KINDS)

# Optional result fields (a result from before the research tier has none of them and stays valid):
# per-seed samples and the statistics against the parent and the best, the metric on data kept from selection
# (`heldout`), the lineage (`inspired_by` = the parent
# result, `baseline` = the task's baseline result), the canonical config (JSON text; its SHA-256 dedupes runs)
# and where the run's files are archived. `checkpoints` (ml): per seed, the SHA-256 (hex) of the trained θ's bytes,
# a blob in the storage service (PROTOCOL.md §11.6) that reviewers fetch and evaluate (docs/REVIEW.md §2).
RESULT_OPTIONAL = {
    "hypothesis",
    "paper",
    "ci95",
    "p_value",
    "noise_floor",
    "baseline",
    "inspired_by",
    "config",
}
RESULT_OPTIONAL |= {"artifacts", "samples", "heldout", "checkpoints"}
# `training` (ml): how the samples were trained — {"mode": "solo"}, or {"mode": "diloco", "runs": one per seed
# {"run": its DiLoCo run spec (PROTOCOL.md §9.1), "rounds": per round [[peer, inner steps], ...] as its
# certificate named them]}; a reviewer replays those runs (pynode/research/ml/collab.py). Checked here for shape.
RESULT_OPTIONAL |= {"training"}
TRAINING_MODES = ("solo", "diloco")
ARCHIVE_PATH = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # task and metric ids: safe as archive path components
DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,12})?")
KEY = re.compile(r"[0-9a-f]{64}")


def _slug(d: dict[str, Any], key: str) -> str:
    v = get_str(d, key, 64)
    if not SLUG.fullmatch(v):
        raise WireError("bad_field", f"{key} must match {SLUG.pattern}")
    return v


def _text(d: dict[str, Any], key: str, max_len: int, min_len: int = 1) -> str:
    v = get_str(d, key, max_len, min_len)
    if "\x00" in v or "\r" in v or not (v.isprintable() or "\n" in v):
        raise WireError("bad_field", f"{key} has control characters")
    return v


def _decimal(d: dict[str, Any], key: str) -> str:
    v = get_str(d, key, 40)
    if not DECIMAL.fullmatch(v):
        raise WireError("bad_field", f"{key} must be decimal text like -12.5")
    return v


def _key(d: dict[str, Any], key: str) -> str:
    v = get_str(d, key, 64)
    if not KEY.fullmatch(v):
        raise WireError("bad_field", f"{key} must be a record key (64 hex digits)")
    return v


def _fixed_bytes(item: Any, sizes: tuple[int, ...]) -> bool:
    return (
        isinstance(item, list)
        and len(item) == len(sizes)
        and all(isinstance(x, bytes) and len(x) == n for x, n in zip(item, sizes, strict=True))
    )


# Optional profile fields (pynode/presence/membership.py; profiles without them stay valid): `operator` =
# [operator key, its signature naming this node], `origin` = [relay, salted hash of the node's /24 or /48,
# expiry ms, the relay's signature]. They group a node with its operator's other nodes for points.
PROFILE_OPTIONAL = {"operator", "origin"}
# `services` (pynode/services; PROTOCOL.md §11.3) = {capability: {field: value}}: what each hosted service
# enforces (max_bytes, per_min, burst, concurrent, capacity) and advertises (models, dimensions...).
PROFILE_OPTIONAL |= {"services"}
SERVICE_FIELD = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _check_profile(b: dict[str, Any]) -> None:
    expect_map(b, "profile", {"name", "caps"}, PROFILE_OPTIONAL)
    _text(b, "name", 64)
    caps = get_list(b, "caps", 16)
    if not all(isinstance(c, str) and SLUG.fullmatch(c) for c in caps):
        raise WireError("bad_field", "caps must be short ids")
    if "operator" in b and not _fixed_bytes(b["operator"], (32, 64)):
        raise WireError("bad_field", "operator is [key, signature]")
    if "services" in b:
        _check_services(b["services"])
    if "origin" in b:
        o = b["origin"]
        ok = isinstance(o, list) and len(o) == 4 and _fixed_bytes([o[0], o[1], o[3]], (32, 16, 64))
        if not ok or not isinstance(o[2], int) or isinstance(o[2], bool) or not 0 <= o[2] < 2**63:
            raise WireError("bad_field", "origin is [relay, origin hash, expiry ms, signature]")


def _check_services(services: Any) -> None:
    if not isinstance(services, dict) or len(services) > MAX_PROFILE_SERVICES:
        raise WireError("bad_field", f"services must be a map of at most {MAX_PROFILE_SERVICES} entries")
    for name, entry in services.items():
        if not isinstance(name, str) or not SLUG.fullmatch(name) or len(name) > 32:
            raise WireError("bad_field", "service names must be short ids")
        if not isinstance(entry, dict) or len(entry) > MAX_SERVICE_FIELDS:
            raise WireError("bad_field", f"a service entry is a map of at most {MAX_SERVICE_FIELDS} fields")
        for key, value in entry.items():
            if not SERVICE_FIELD.fullmatch(key):
                raise WireError("bad_field", "service field names are short lowercase ids")
            if isinstance(value, bool) or (isinstance(value, int) and 0 <= value < 2**53):
                continue
            texts = value if isinstance(value, list) and len(value) <= MAX_SERVICE_LIST else [value]
            if not all(
                isinstance(t, str) and 0 < len(t) <= MAX_SERVICE_TEXT and t.isprintable() for t in texts
            ):
                raise WireError("bad_field", f"service field {key} must be a count, a flag or short text(s)")


RESULT_KEYS = frozenset({"domain", "task", "metric", "unit", "direction", "value", "seeds"})


def _check_result(b: dict[str, Any]) -> None:
    expect_map(b, "result", RESULT_KEYS, RESULT_OPTIONAL)
    if b["domain"] not in DOMAINS:
        raise WireError("bad_field", f"domain must be one of {DOMAINS}")
    _slug(b, "task")
    _slug(b, "metric")
    _text(b, "unit", 16)
    if b["direction"] not in ("min", "max"):
        raise WireError("bad_field", "direction must be min or max")
    _decimal(b, "value")
    get_int(b, "seeds", 1, 10_000)
    if len(b) == len(RESULT_KEYS):  # no optional field (expect_map: every required one is there)
        return
    if "hypothesis" in b:
        _text(b, "hypothesis", 1000)
    if "paper" in b:
        _key(b, "paper")
    for name in ("ci95", "p_value", "noise_floor", "heldout"):
        if name in b:
            _decimal(b, name)
    for name in ("baseline", "inspired_by"):
        if name in b:
            _key(b, name)
    if "config" in b:
        _text(b, "config", MAX_RESULT_CONFIG)
    if "artifacts" in b:
        _archive_path(b, "artifacts")
    if "samples" in b:
        samples = get_list(b, "samples", MAX_RESULT_SAMPLES)
        if not all(isinstance(v, str) and DECIMAL.fullmatch(v) for v in samples):
            raise WireError("bad_field", "samples must be decimal texts")
    if "checkpoints" in b:
        blobs = get_list(b, "checkpoints", MAX_RESULT_SAMPLES)
        if len(blobs) != b["seeds"] or not all(isinstance(k, str) and KEY.fullmatch(k) for k in blobs):
            raise WireError("bad_field", "checkpoints must be one blob id (64 hex digits) per seed")
    if "training" in b:
        _check_training(b["training"], b["seeds"])


def _check_training(t: Any, seeds: int) -> None:
    expect_map(t, "training", {"mode"}, {"runs"})
    if t["mode"] not in TRAINING_MODES or ("runs" in t) != (t["mode"] == "diloco"):
        raise WireError("bad_field", f"training is solo, or diloco with its runs ({TRAINING_MODES})")
    if "runs" not in t:
        return
    runs = get_list(t, "runs", MAX_RESULT_SAMPLES)
    if len(runs) != seeds:
        raise WireError("bad_field", "a DiLoCo-trained result names one run per seed")
    for run in runs:
        expect_map(run, "training run", {"run", "rounds"})
        if not isinstance(run["run"], dict):
            raise WireError("bad_field", "a training run's spec is a map")
        for named in get_list(run, "rounds", MAX_TRAINING_ROUNDS):
            if not isinstance(named, list) or not 0 < len(named) <= MAX_TRAINING_PEERS:
                raise WireError("bad_field", f"a round names 1 to {MAX_TRAINING_PEERS} peers")
            for entry in named:
                ok = isinstance(entry, list) and len(entry) == 2 and _fixed_bytes(entry[:1], (32,))
                if (
                    not ok
                    or isinstance(entry[1], bool)
                    or not isinstance(entry[1], int)
                    or not 0 < entry[1] < 2**31
                ):
                    raise WireError("bad_field", "a round's entry is [peer, inner steps]")


def _archive_path(d: dict[str, Any], key: str) -> str:
    v = get_str(d, key, 200)
    if not ARCHIVE_PATH.fullmatch(v) or ".." in v.split("/"):
        raise WireError("bad_field", f"{key} must be a relative archive path")
    return v


# Optional review fields (pynode/review; a review from before it has none and stays valid, but only a review
# with a VRF proof and an epoch can count toward a result's standing): the committee ticket (`vrf`, 80 bytes, and
# the `epoch` it was drawn for), the re-execution's `verdict`, its `measured` value and the `tolerance` used, the
# rubric's `subscores` (points as decimal text) and `copy_of` (an earlier result this one repeats).
REVIEW_OPTIONAL = {"comment", "vrf", "epoch", "verdict", "measured", "tolerance", "subscores", "copy_of"}
VERDICTS = ("reproduced", "not_reproduced", "unavailable")


def _check_review(b: dict[str, Any]) -> None:
    expect_map(b, "review", {"target", "score", "rubric"}, REVIEW_OPTIONAL)
    _key(b, "target")
    get_int(b, "score", 1, 10)
    _slug(b, "rubric")
    if "comment" in b:
        _text(b, "comment", 2000)
    if ("vrf" in b) != ("epoch" in b):
        raise WireError("bad_field", "a review carries its VRF proof and its epoch together")
    if "vrf" in b:
        get_bytes(b, "vrf", 80)
        get_int(b, "epoch", 0, 2**40)
    if "verdict" in b and b["verdict"] not in VERDICTS:
        raise WireError("bad_field", f"verdict must be one of {VERDICTS}")
    for name in ("measured", "tolerance"):
        if name in b:
            _decimal(b, name)
    if "subscores" in b:
        scores = b["subscores"]
        if not isinstance(scores, dict) or len(scores) > MAX_REVIEW_SUBSCORES:
            raise WireError("bad_field", f"subscores must be a map of at most {MAX_REVIEW_SUBSCORES} entries")
        for name in scores:
            if not isinstance(name, str) or not SLUG.fullmatch(name):
                raise WireError("bad_field", "subscore names must be short ids")
            _decimal(scores, name)
    if "copy_of" in b:
        _key(b, "copy_of")


def _check_paper(b: dict[str, Any]) -> None:
    expect_map(b, "paper", {"title", "domain", "task", "results", "markdown"}, {"figures"})
    _text(b, "title", 200)
    if b["domain"] not in DOMAINS:
        raise WireError("bad_field", f"domain must be one of {DOMAINS}")
    _slug(b, "task")
    results = get_list(b, "results", 16)
    if not all(isinstance(k, str) and KEY.fullmatch(k) for k in results):
        raise WireError("bad_field", "results must be record keys")
    _text(b, "markdown", MAX_PAPER_MARKDOWN)
    if "figures" in b:  # SVG figures the Markdown links as `figure-N.svg`, archived beside it
        figures = get_list(b, "figures", MAX_FIGURES)
        if not all(
            isinstance(f, str) and 0 < len(f) <= MAX_FIGURE_BYTES and f.startswith("<svg") for f in figures
        ):
            raise WireError(
                "bad_field", f"figures must be SVG texts of at most {MAX_FIGURE_BYTES} characters"
            )


def _check_points(b: dict[str, Any]) -> None:
    # optional: the certificate the awards are for (its key) and which part of them (256 awards a record)
    expect_map(b, "points", {"round", "awards"}, {"cert", "part"})
    get_int(b, "round")
    if "cert" in b:
        _key(b, "cert")
    if "part" in b:
        get_int(b, "part", 0, 64)
    for award in get_list(b, "awards", 256):
        if not (
            isinstance(award, list)
            and len(award) == 2
            and isinstance(award[0], bytes)
            and len(award[0]) == 32
            and isinstance(award[1], int)
            and 0 <= award[1] <= 1_000_000
        ):
            raise WireError("bad_field", "awards are [peer id, points] pairs")


def _check_certificate(b: dict[str, Any]) -> None:
    """A pulse round's certificate (pynode/presence/certificate.py says what it means; this is its shape)."""
    keys = {"round", "seed", "prev", "interval", "challenge", "participants", "strikes", "cosigs"}
    expect_map(b, "certificate", keys)
    get_int(b, "round", 0, 2**40)
    get_bytes(b, "seed", 32)
    get_bytes(b, "prev", 32)
    get_int(b, "interval", 1_000, 86_400_000)
    get_bytes(b, "challenge", 80)
    participants = get_list(b, "participants", MAX_CERTIFICATE_PARTICIPANTS)
    if not participants or not all(_fixed_bytes(p, (32, 80, 16, 32)) for p in participants):
        raise WireError("bad_field", "participants are [peer, proof, claim, root] entries, at least one")
    peers = [p[0] for p in participants]
    if peers != sorted(set(peers)):
        raise WireError("bad_field", "participants must be sorted by peer, each once")
    for s in get_list(b, "strikes", MAX_CERTIFICATE_STRIKES):
        ok = isinstance(s, list) and len(s) == 3 and isinstance(s[0], bytes) and len(s[0]) == 32
        ok = ok and isinstance(s[1], str) and bool(SLUG.fullmatch(s[1])) and isinstance(s[2], list)
        if not ok or not 1 <= len(s[2]) <= 2 or not all(isinstance(e, bytes) for e in s[2]):
            raise WireError("bad_field", "strikes are [peer, reason, [envelope...]] entries")
        if sum(len(e) for e in s[2]) > MAX_STRIKE_EVIDENCE_BYTES:
            raise WireError("bad_field", "a strike's evidence is too large")
    for c in get_list(b, "cosigs", MAX_CERTIFICATE_COSIGS):
        ok = isinstance(c, list) and len(c) == 4 and isinstance(c[0], bytes) and len(c[0]) == 32
        ok = ok and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**64 for x in c[1:3])
        if not ok or not isinstance(c[3], bytes) or len(c[3]) != 64:
            raise WireError("bad_field", "cosigs are [peer, seqno, ts, signature] entries")


def _check_receipt(b: dict[str, Any]) -> None:
    """A requester's signed word that `server` served it `count` requests (`units` of work: tokens, bytes...)
    of capability `cap` in hour `epoch` (ts_ms // 3,600,000). The author is the requester; one record per
    (requester, server, cap, epoch). The points view counts them (pynode/presence/receipts.py)."""
    expect_map(b, "receipt", {"cap", "server", "epoch", "count", "units"})
    _slug(b, "cap")
    get_bytes(b, "server", 32)
    get_int(b, "epoch", 0, 2**40)
    get_int(b, "count", 1, MAX_RECEIPT_COUNT)
    get_int(b, "units", 0, MAX_RECEIPT_UNITS)


# The task board (pynode/services/orchestration): jobs posted by anyone, assignments by orchestrators, and the
# assigned nodes' answers. Which assignment counts, and whose, is the board view's question, not the schema's.
TASK_KINDS = ("diloco", "research")


def _check_task(b: dict[str, Any]) -> None:
    """A job: its `kind`, a title, its spec (JSON text: a DiLoCo run or a research campaign), what a node needs
    to take it (capabilities, memory in MiB, expected compute in CPU-seconds per node), how many nodes, and
    until when (`expires`, ms) it stands."""
    keys = {"kind", "title", "spec", "caps", "memory_mb", "compute_s", "slots", "expires"}
    expect_map(b, "task", keys, {"orchestrators"})  # optional: the only orchestrators whose assignments count
    if b["kind"] not in TASK_KINDS:
        raise WireError("bad_field", f"kind must be one of {TASK_KINDS}")
    _text(b, "title", MAX_TASK_TITLE)
    _text(b, "spec", MAX_TASK_SPEC, 2)
    caps = get_list(b, "caps", MAX_TASK_CAPS)
    if not all(isinstance(c, str) and SLUG.fullmatch(c) for c in caps):
        raise WireError("bad_field", f"caps must be capability names matching {SLUG.pattern}")
    get_int(b, "memory_mb", 0, MAX_TASK_MEMORY_MB)
    get_int(b, "compute_s", 1, MAX_TASK_COMPUTE_S)
    get_int(b, "slots", 1, MAX_TASK_SLOTS)
    get_int(b, "expires", 0, 2**53)
    if "orchestrators" in b:
        _peer_list(b, "orchestrators", MAX_TASK_ORCHESTRATORS)


def _peer_list(b: dict[str, Any], key: str, max_len: int) -> list[bytes]:
    peers = get_list(b, key, max_len)
    if not all(isinstance(p, bytes) and len(p) == 32 for p in peers) or len(set(peers)) != len(peers):
        raise WireError("bad_field", f"{key} must be distinct 32-byte peer ids")
    return peers


def _check_assignment(b: dict[str, Any]) -> None:
    """An orchestrator names the nodes that run a task; a later epoch replaces an earlier one."""
    expect_map(b, "assignment", {"task", "epoch", "nodes"})
    _key(b, "task")
    get_int(b, "epoch", 0, 2**32)
    _peer_list(b, "nodes", MAX_TASK_SLOTS)


def _check_task_reply(b: dict[str, Any]) -> None:
    """An assigned node takes the task (of that epoch's assignment) or declines it, with a reason."""
    expect_map(b, "task reply", {"task", "epoch", "accept"}, {"reason"})
    _key(b, "task")
    get_int(b, "epoch", 0, 2**32)
    if not isinstance(b["accept"], bool):
        raise WireError("bad_field", "accept must be a boolean")
    if "reason" in b:
        _text(b, "reason", MAX_TASK_TITLE)


SCHEMAS = {
    "profile": _check_profile,
    "result": _check_result,
    "review": _check_review,
    "paper": _check_paper,
    "points": _check_points,
    "certificate": _check_certificate,
    "receipt": _check_receipt,
    "task": _check_task,
    "assignment": _check_assignment,
    "task_reply": _check_task_reply,
}


def max_bytes(kind: str) -> int:
    """The largest record of `kind`: certificates name up to MAX_CERTIFICATE_PARTICIPANTS nodes each."""
    return MAX_CERTIFICATE_BYTES if kind == "certificate" else MAX_RECORD_BYTES


@dataclass(frozen=True)
class Record:
    kind: str
    author: bytes
    ts: int  # milliseconds since the Unix epoch, the author's clock
    body: dict[str, Any]
    sig: bytes
    encoded: bytes = field(repr=False, compare=False, default=b"")

    @cached_property
    def key(self) -> str:  # a dict key, a quota's, a view's: hashed once (`encoded` never changes)
        return record_key(self.encoded)

    def unsigned(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "kind": self.kind,
            "author": self.author,
            "ts": self.ts,
            "body": self.body,
        }

    def signed_bytes(self) -> bytes:
        return DOMAIN_RECORD + cbor.encode(self.unsigned())


# The start of every canonical record encoding (its keys sort v, ts, sig, body, kind, author), and of its sig entry
_RECORD_HEAD = b"\xa6\x61v" + cbor.encode(RECORD_VERSION) + b"\x62ts"
_SIG_ENTRY = b"\x63sig\x58\x40"


def signed_bytes_from(encoded: bytes, record: Record) -> bytes:
    """`record.signed_bytes()` cut out of `encoded`, the canonical encoding `record` was just decoded from
    (decode_record checked it is canonical): without its sig entry, that map is the canonical encoding of the
    other fields, so nothing is encoded again. Anything else falls back to encoding the fields."""
    ts = record.ts  # an unsigned integer (decode_record): its head is 1, 2, 3, 5 or 9 bytes
    at = len(_RECORD_HEAD) + (
        1 if ts < 24 else 2 if ts < 256 else 3 if ts < 65536 else 5 if ts < 2**32 else 9
    )
    if encoded.startswith(_RECORD_HEAD) and encoded[at : at + 70] == _SIG_ENTRY + record.sig:
        return DOMAIN_RECORD + b"\xa5" + encoded[1:at] + encoded[at + 70 :]
    return record.signed_bytes()


def record_key(encoded: bytes) -> str:
    return hashlib.sha256(encoded).hexdigest()


def doc_for(kind: str, body: dict[str, Any]) -> str:
    """The document a record of this kind belongs in (results go to their domain's document)."""
    if kind == "result":
        return f"results.{body['domain']}"
    for name, k in DOC_KINDS.items():
        if k == kind:
            return name
    raise ValueError(f"unknown record kind {kind!r}")


async def make_record(signer: Signer, kind: str, body: dict[str, Any], ts: int) -> Record:
    """Sign a record; raises WireError if `body` does not fit the kind's schema."""
    if kind not in SCHEMAS:
        raise WireError("bad_field", f"unknown record kind {kind!r}")
    SCHEMAS[kind](body)
    unsigned = {"v": RECORD_VERSION, "kind": kind, "author": signer.public_key, "ts": ts, "body": body}
    sig = await signer.sign(DOMAIN_RECORD + cbor.encode(unsigned))
    encoded = cbor.encode({**unsigned, "sig": sig})
    if len(encoded) > max_bytes(kind):
        raise WireError("oversized", f"record is {len(encoded)} bytes > {max_bytes(kind)}")
    return Record(kind, signer.public_key, ts, body, sig, encoded)


RECORD_KEYS = frozenset({"v", "kind", "author", "ts", "body", "sig"})


# The entries of a canonical record's map between its values, in canonical key order (v, ts, sig, body, kind,
# author), each with the head of the value after it where that head is fixed (64 and 32 bytes)
_V_TS = b"\xa6\x61v" + cbor.encode(RECORD_VERSION) + b"\x62ts"
_SIG = b"\x63sig\x58\x40"
_BODY = b"\x64body"
_KIND = b"\x64kind"
_AUTHOR = b"\x66author\x58\x20"


def _check_fields(kind: Any, body: Any, encoded: bytes) -> None:
    """A decoded record's kind, body and size against its kind's schema and limit."""
    if kind not in SCHEMAS:
        raise WireError("bad_field", f"unknown record kind {str(kind)[:32]!r}")
    if not isinstance(body, dict):
        raise WireError("bad_type", "body must be a map")
    if len(encoded) > max_bytes(kind):
        raise WireError("oversized", f"a {kind} record of {len(encoded)} bytes > {max_bytes(kind)}")
    SCHEMAS[kind](body)


def _canonical_fields(encoded: bytes) -> tuple[int, bytes, Any, Any, bytes] | None:
    """(ts, sig, body, kind, author) of `encoded` when it is exactly the canonical encoding of a record map
    with a version of RECORD_VERSION, an unsigned ts, a 64-byte sig and a 32-byte author: what cbor.decode
    and decode_record's field checks would make of it, read in place (a cold start decodes thousands).
    None for anything else, which then takes the generic path and its verdict."""
    try:
        if not encoded.startswith(_V_TS):
            return None
        ts, at = cbor_pure.decode_at(encoded, len(_V_TS), 0)
        if type(ts) is not int or ts < 0 or encoded[at : at + 6] != _SIG:
            return None
        sig = encoded[at + 6 : at + 70]
        if len(sig) != 64 or encoded[at + 70 : at + 75] != _BODY:
            return None
        # the record map's values nest up to MAX_DEPTH - 1 deep, as cbor.decode allows them
        body, at = cbor_pure.decode_at(encoded, at + 75, MAX_DEPTH - 1)
        if encoded[at : at + 5] != _KIND:
            return None
        kind, at = cbor_pure.decode_at(encoded, at + 5, 0)
        if encoded[at : at + 9] != _AUTHOR or len(encoded) != at + 9 + 32:
            return None
    except cbor_pure.Unsupported:
        return None
    return ts, sig, body, kind, encoded[at + 9 :]


def decode_record(encoded: bytes, key: str | None = None) -> Record:
    """Parse and schema-check a record (not its signature: see `verify_record`). Raises WireError.
    `key`: record_key(encoded), where the caller has just computed it (it is kept, not hashed again)."""
    fields = (
        _canonical_fields(encoded)
        if type(encoded) is bytes and len(encoded) <= MAX_CERTIFICATE_BYTES
        else None
    )
    if fields is not None:
        ts, sig, body, kind, author = fields
        _check_fields(kind, body, encoded)
        record = Record(kind, author, ts, body, sig, encoded)
    else:
        value = cbor.decode(encoded, max_bytes=MAX_CERTIFICATE_BYTES)  # the largest kind; each kind's below
        d = expect_map(value, "record", RECORD_KEYS)
        if d["v"] != RECORD_VERSION:
            raise WireError("bad_field", f"record version {d['v']!r} is not {RECORD_VERSION}")
        _check_fields(d["kind"], d["body"], encoded)
        record = Record(
            d["kind"],
            get_bytes(d, "author", 32),
            get_int(d, "ts"),
            d["body"],
            get_bytes(d, "sig", 64),
            encoded,
        )
    if key is not None:
        record.__dict__["key"] = key  # what the cached property `key` would hold (functools.cached_property)
    return record


async def verify_record(record: Record) -> bool:
    return await verify(record.author, record.signed_bytes(), record.sig)


def metric_value(record: Record) -> Decimal:
    return Decimal(record.body["value"])
