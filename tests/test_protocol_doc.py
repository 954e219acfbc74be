"""docs/PROTOCOL.md checked against the code: every byte-level example, every limit and every parameter.

The examples are recomputed here from fixed inputs (Ed25519 seeds, nonces, timestamps) with the project's own
encoders, signers, parsers, handshake and relay hub, and compared with the fenced blocks of the document:

  ```hex NAME        hex, optionally annotated: everything after `#` on a line is a comment
  ```cbor-diag NAME  the same value in CBOR diagnostic notation (RFC 8949 §8)
  ```text chunks     how a large frame is cut into data-channel chunks

After a deliberate protocol change, print the new blocks with `python -m tests.test_protocol_doc` and paste
them into §7 of the document.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import importlib
import json
import re
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from pynode.gossip.params import GossipParams, PeerScoreThresholds
from pynode.gossip.rpc import RPC, Prune, SubOpt
from pynode.identity import Identity, peer_id_text, verify
from pynode.net import chunks, handshake
from pynode.net import relay_proto as rp
from pynode.net.federation_proto import DOMAIN_FED_DIR
from pynode.net.handshake import Fingerprints, Initiator, Responder, Send, Sign
from pynode.platform.native import NaclSigner, verify_now
from pynode.state.authorship import DOMAIN_CHANGE
from pynode.state.records import DOMAIN_RECORD
from pynode.wire import cbor, limits
from pynode.wire.envelope import DOMAIN_MESSAGE, Envelope, sign_envelope, verify_envelope
from relay_server.gateway import DOMAIN_SUBMIT
from relay_server.hub import Hub

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PROTOCOL.md"

# ---- the fixed inputs of PROTOCOL.md §7 -------------------------------------------------------------------

SEEDS = {"Alice": bytes([0x01]) * 32, "Bob": bytes([0x02]) * 32, "Relay": bytes([0x03]) * 32}
ALICE = Identity(NaclSigner(SEEDS["Alice"]))
BOB = Identity(NaclSigner(SEEDS["Bob"]))
RELAY = Identity(NaclSigner(SEEDS["Relay"]))
TS = 1_700_000_000_000  # 2023-11-14T22:13:20Z, in milliseconds
TOPIC = "hs/1/demo/pulse"
SEQNO = 1
DATA = b"hello"
CHALLENGE_NONCE = bytes([0xAA]) * 32
NI = bytes([0x11]) * 32  # the initiator's handshake nonce
NR = bytes([0x22]) * 32  # the responder's
NODE_CAPS = ("relay", "webrtc")  # a node's defaults: NodeConfig.caps plus DIRECT_CAP
# Stand-ins for the SDPs of §4.2 (real ones run to a few KiB): only their DTLS fingerprint lines matter here.
# Bob (the smaller id) offers, so on the data channel he is the handshake's initiator and Alice the responder.
FP_BOB = "sha-256 " + ":".join(["B0"] * 32)
FP_ALICE = "sha-256 " + ":".join(["A1"] * 32)
SDP = f"v=0\r\na=fingerprint:{FP_BOB}\r\n"  # Bob's offer
SDP_ANSWER = f"v=0\r\na=fingerprint:{FP_ALICE}\r\n"  # Alice's answer
CHUNKED_FRAME_BYTES = 150_000

# name -> (what the block shows, how it is rendered)
#   "hex": plain hex; "annotated": hex with a comment per CBOR item; "signed": domain + annotated CBOR
#   "diag": a cbor-diag block is expected too
BLOCKS: dict[str, tuple[str, ...]] = {
    "envelope-signed": ("signed",),
    "envelope-sig": ("hex",),
    "envelope": ("annotated", "diag"),
    "envelope-id": ("hex",),
    "rpc-publish": ("annotated", "diag"),
    "rpc-control": ("annotated", "diag"),
    "relay-challenge": ("annotated",),
    "relay-hello-signed": ("signed",),
    "relay-hello": ("annotated",),
    "relay-welcome": ("annotated",),
    "relay-join": ("annotated",),
    "signal-offer": ("annotated",),
    "relay-signal-to": ("annotated",),
    "relay-signal-from": ("annotated",),
    "relay-circuit-to": ("annotated",),
    "relay-circuit-from": ("annotated",),
    "relay-leave": ("annotated",),
    "relay-unreachable": ("annotated",),
    "relay-error": ("annotated",),
    "hs1": ("annotated",),
    "hs2-signed": ("signed",),
    "hs2": ("annotated",),
    "hs3-signed": ("signed",),
    "hs3": ("annotated",),
    "hs2-signed-direct": ("signed",),
    "hs3-chunk": ("hex",),
}
DOMAINS = {
    "envelope-signed": DOMAIN_MESSAGE,
    "relay-hello-signed": rp.DOMAIN_RELAY_HELLO,
    "hs2-signed": handshake.DOMAIN_HANDSHAKE,
    "hs3-signed": handshake.DOMAIN_HANDSHAKE,
    "hs2-signed-direct": handshake.DOMAIN_HANDSHAKE,
}


# ---- computing the examples with the project's code ------------------------------------------------------


async def _envelope() -> Envelope:
    return await sign_envelope(ALICE.signer, TOPIC, SEQNO, TS, DATA)


def _run(side: Initiator | Responder, actions: list[Any], me: Identity) -> list[bytes]:
    """Carry out a handshake machine's actions at once; returns the frames it sends."""
    sent, todo = [], deque(actions)
    while todo:
        action = todo.popleft()
        if isinstance(action, Send):
            sent.append(action.frame)
        elif isinstance(action, Sign):
            todo.extend(side.signed(me.signer.sign_now(action.message)))
        else:
            todo.extend(side.verified(verify_now(action.peer, action.message, action.sig)))
    return sent


def _handshake_frames() -> tuple[bytes, bytes, bytes]:
    """Run the real handshake machines (Alice initiates, Bob responds) with the fixed nonces."""
    i, r = Initiator(ALICE.peer_id, BOB.peer_id, NI), Responder(BOB.peer_id, ALICE.peer_id, NR)
    (hs1,) = _run(i, i.start(), ALICE)
    r.start()
    (hs2,) = _run(r, r.receive(hs1), BOB)
    (hs3,) = _run(i, i.receive(hs2), ALICE)
    _run(r, r.receive(hs3), BOB)
    assert i.established and r.established
    return hs1, hs2, hs3


async def _relay_frames(hs1: bytes) -> dict[str, bytes]:
    """Drive the relay's hub: the relay's own node, then Bob, then Alice attach; they signal and circuit."""
    hub = Hub()
    got: dict[str, list[bytes]] = {"relay": [], "alice": [], "bob": []}

    def collect(who: str):
        async def deliver(frame: bytes) -> None:
            got[who].append(frame)

        return deliver

    async def settle() -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    hub.attach_local(RELAY.peer_id, ["relay"], collect("relay"))
    bob = hub.attach_local(BOB.peer_id, NODE_CAPS, collect("bob"))
    await settle()
    alice = hub.attach_local(ALICE.peer_id, NODE_CAPS, collect("alice"))
    await settle()
    out = {"relay-welcome": got["alice"][0], "relay-join": got["bob"][-1]}
    # Bob's id is the smaller, so Bob offers (§4)
    offer = cbor.encode({"kind": "offer", "sdp": SDP})
    out["signal-offer"] = offer
    out["relay-signal-to"] = rp.SignalTo(ALICE.peer_id, offer).encode()
    await bob.send(out["relay-signal-to"])
    await settle()
    out["relay-signal-from"] = got["alice"][-1]
    out["relay-circuit-to"] = rp.CircuitTo(BOB.peer_id, hs1).encode()
    await alice.send(out["relay-circuit-to"])
    await settle()
    out["relay-circuit-from"] = got["bob"][-1]
    bob.close()
    await settle()
    out["relay-leave"] = got["alice"][-1]
    await alice.send(out["relay-circuit-to"])  # Bob is gone
    await settle()
    out["relay-unreachable"] = got["alice"][-1]
    alice.close()
    return out


async def _build() -> dict[str, bytes]:
    env = await _envelope()
    hs1, hs2, hs3 = _handshake_frames()
    hello = await rp.make_hello(ALICE.signer, CHALLENGE_NONCE, RELAY.peer_id, NODE_CAPS, TS)
    ex = {
        "envelope-signed": env.signed_bytes(),
        "envelope-sig": env.sig,
        "envelope": cbor.encode(env.to_wire()),
        "envelope-id": env.msg_id,
        "rpc-publish": RPC(subs=[SubOpt(True, TOPIC)], msgs=[env]).encode(),
        "rpc-control": RPC(
            ihave=[(TOPIC, [env.msg_id])],
            iwant=[env.msg_id],
            graft=[TOPIC],
            prune=[Prune(TOPIC, [RELAY.peer_id], 60)],
        ).encode(),
        "relay-challenge": rp.Challenge(CHALLENGE_NONCE, RELAY.peer_id).encode(),
        "relay-hello-signed": rp.hello_payload(CHALLENGE_NONCE, RELAY.peer_id, ALICE.peer_id, NODE_CAPS, TS),
        "relay-hello": hello.encode(),
        "relay-error": rp.Error("rate_limited", "rate_limited: over the relay's per-peer rate").encode(),
        "hs1": hs1,
        "hs2-signed": handshake.transcript("responder", ALICE.peer_id, BOB.peer_id, NI, NR),
        "hs2": hs2,
        "hs3-signed": handshake.transcript("initiator", ALICE.peer_id, BOB.peer_id, NI, NR),
        "hs3": hs3,
        "hs2-signed-direct": handshake.transcript(
            "responder", BOB.peer_id, ALICE.peer_id, NI, NR, Fingerprints.of(SDP, SDP_ANSWER)
        ),
        "hs3-chunk": b"".join(chunks.split(hs3)),
    }
    ex.update(await _relay_frames(hs1))
    assert set(ex) == set(BLOCKS)
    return {name: ex[name] for name in BLOCKS}


@functools.cache
def examples() -> dict[str, bytes]:
    return asyncio.run(_build())


# ---- rendering: hex, annotated hex, diagnostic notation -------------------------------------------------

HEX_ROW = 16  # bytes per line of plain hex
COMMENT_COLUMN = 60


def plain_hex(buf: bytes) -> str:
    return "\n".join(buf[i : i + HEX_ROW].hex(" ") for i in range(0, len(buf), HEX_ROW))


def diag(value: Any, indent: int = 0) -> str:
    """CBOR diagnostic notation; containers that do not fit on a line are broken one item per line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, list):
        items = [diag(v, indent + 2) for v in value]
        open_, close = "[", "]"
    else:
        items = [f"{diag(k)}: {diag(v, indent + 2)}" for k, v in value.items()]
        open_, close = "{", "}"
    inline = open_ + ", ".join(items) + close
    if "\n" not in inline and indent + len(inline) <= 100:
        return inline
    pad = " " * (indent + 2)
    return open_ + "\n" + ",\n".join(pad + i for i in items) + "\n" + " " * indent + close


class _Annotator:
    """Hex of one CBOR item per line, indented by nesting, with the item in diagnostic notation."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos, self.lines = buf, 0, []

    def line(self, depth: int, raw: bytes, comment: str = "") -> None:
        text = "  " * depth + raw.hex(" ")
        self.lines.append(f"{text.ljust(COMMENT_COLUMN)}# {'  ' * depth}{comment}" if comment else text)

    def header(self) -> tuple[int, int, bytes]:
        start = self.pos
        initial = self.buf[self.pos]
        self.pos += 1
        major, info = initial >> 5, initial & 31
        arg = info
        if 24 <= info <= 27:
            size = 1 << (info - 24)
            arg = int.from_bytes(self.buf[self.pos : self.pos + size], "big")
            self.pos += size
        return major, arg, self.buf[start : self.pos]

    def item(self, depth: int, key: bytes = b"", label: str = "") -> None:
        """One item; in a map, `key` is the encoded key, shown on the value's first line when it fits."""
        major, arg, head = self.header()
        first = head
        if major in (2, 3):
            content = self.buf[self.pos : self.pos + arg]
            self.pos += arg
            if major == 3:
                comment = json.dumps(content.decode(), ensure_ascii=False)
                # a text too long for its line continues, like a long byte string, on rows below
                long = len("  " * (depth + 1) + (head + content).hex(" ")) >= COMMENT_COLUMN
                first = head if long else head + content
            elif arg <= 8:
                first, comment = head + content, f"h'{content.hex()}'"
            else:
                comment = f"bytes({arg})"
        elif major in (4, 5):
            comment = f"{'array' if major == 4 else 'map'}({arg})"
        elif major == 7:
            comment = {20: "false", 21: "true", 22: "null"}[arg]
        else:
            comment = str(arg if major == 0 else -1 - arg)
        if key and len("  " * depth + (key + first).hex(" ")) >= COMMENT_COLUMN:
            self.line(depth, key, label.rstrip())  # the key alone, its value on the next line
            self.line(depth + 1, first, comment)
            rows_depth = depth + 2
        else:
            self.line(depth, key + first, label + comment)
            rows_depth = depth + 1
        if major in (2, 3) and first == head:
            for i in range(0, arg, HEX_ROW):
                self.line(rows_depth, content[i : i + HEX_ROW])
        elif major == 4:
            for _ in range(arg):
                self.item(depth + 1)
        elif major == 5:
            for _ in range(arg):
                _, size, key_head = self.header()
                name = self.buf[self.pos : self.pos + size]
                self.pos += size
                self.item(depth + 1, key_head + name, json.dumps(name.decode()) + ": ")


def annotated(buf: bytes, domain: bytes = b"") -> str:
    a = _Annotator(buf[len(domain) :])
    lines = []
    if domain:
        text = json.dumps(domain.decode())[1:-1].replace("\\u0000", "\\0")
        for i in range(0, len(domain), HEX_ROW):
            comment = f'domain "{text}"' if i == 0 else ""
            row = domain[i : i + HEX_ROW].hex(" ")
            lines.append(f"{row.ljust(COMMENT_COLUMN)}# {comment}" if comment else row)
    a.item(0)
    assert a.pos == len(a.buf)
    return "\n".join(lines + a.lines)


def render_block(name: str, buf: bytes) -> str:
    kind = BLOCKS[name]
    out = []
    if "diag" in kind:
        out.append(
            f"```cbor-diag {name}\n{diag(cbor.decode(buf, max_bytes=limits.MAX_RELAY_FRAME_BYTES))}\n```"
        )
    if "signed" in kind:
        body = annotated(buf, DOMAINS[name])
    elif "annotated" in kind:
        body = annotated(buf)
    else:
        body = plain_hex(buf)
    out.append(f"```hex {name}\n{body}\n```")
    return "\n".join(out)


def chunk_table(frame_bytes: int) -> str:
    rows, offset = [f"frame: {frame_bytes} bytes"], 0
    for i, c in enumerate(chunks.split(bytes(frame_bytes)), 1):
        n = len(c) - 1
        rows.append(f"chunk {i}: {c[0]:02x} + frame[{offset}:{offset + n}]  ({len(c)} bytes)")
        offset += n
    return "```text chunks\n" + "\n".join(rows) + "\n```"


# ---- parsing the document --------------------------------------------------------------------------------

_FENCE = re.compile(r"^```(hex|cbor-diag|text) ([\w.-]+)\n(.*?)^```$", re.M | re.S)


@functools.cache
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


@functools.cache
def doc_blocks() -> dict[tuple[str, str], str]:
    blocks: dict[tuple[str, str], str] = {}
    for lang, name, body in _FENCE.findall(doc_text()):
        assert (lang, name) not in blocks, f"two ```{lang} {name} blocks"
        blocks[(lang, name)] = body.rstrip("\n")
    return blocks


def doc_hex(name: str) -> bytes:
    body = doc_blocks().get(("hex", name))
    assert body is not None, f"PROTOCOL.md has no ```hex {name} block"
    digits = "".join(line.split("#", 1)[0] for line in body.splitlines())
    return bytes.fromhex("".join(digits.split()))


def table_rows(heading: str) -> list[list[str]]:
    """The rows of the first table after `heading` (cells stripped, header and rule skipped)."""
    text = doc_text()
    at = text.index(heading)
    rows = []
    lines = text[at:].splitlines()
    for line in lines if heading.startswith("|") else lines[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def resolve(dotted: str) -> Any:
    """`NAME` (a pynode.wire.limits constant) or `module.path.NAME[.attr]`."""
    if "." not in dotted:
        return getattr(limits, dotted)
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise LookupError(dotted)


def cell_value(cell: str) -> Any:
    """The value at the start of a table cell: `"text"`, true / false, or a number (the rest is a note)."""
    quoted = re.match(r'`"([^"]*)"`', cell)
    if quoted:
        return quoted.group(1)
    token = cell.split()[0].strip("`")
    if token in ("true", "false"):
        return token == "true"
    return float(token.replace("_", ""))


def documented_constants(heading: str) -> dict[str, Any]:
    out = {}
    for row in table_rows(heading):
        m = re.fullmatch(r"`([\w.]+)`", row[0])
        assert m, f"first cell of {row} must be a `name`"
        out[m.group(1)] = cell_value(row[1])
    return out


# ---- the tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BLOCKS))
def test_example_bytes_match_the_code(name):
    assert doc_hex(name) == examples()[name], f"regenerate with: python -m tests.test_protocol_doc ({name})"


@pytest.mark.parametrize("name", [n for n, kind in BLOCKS.items() if "hex" not in kind])
def test_annotations_match_the_bytes(name):
    expected = render_block(name, examples()[name]).split(f"```hex {name}\n", 1)[1].rsplit("\n```", 1)[0]
    assert doc_blocks()[("hex", name)] == expected


@pytest.mark.parametrize("name", [n for n, kind in BLOCKS.items() if "diag" in kind])
def test_diagnostic_notation_matches_the_bytes(name):
    body = doc_blocks().get(("cbor-diag", name))
    assert body is not None, f"PROTOCOL.md has no ```cbor-diag {name} block"
    value = cbor.decode(doc_hex(name), max_bytes=limits.MAX_RELAY_FRAME_BYTES)
    assert "".join(body.split()) == "".join(diag(value).split())


def test_fixed_inputs_table():
    rows = {r[0]: r[1:] for r in table_rows("Fixed inputs")}
    for who, seed in SEEDS.items():
        ident = Identity(NaclSigner(seed))
        seed_cell, key_cell, text_cell = rows[who][:3]
        assert seed_cell.strip("`") == f"{seed[0]:02x}" + " × 32"
        assert key_cell.strip("`") == ident.peer_id.hex()
        assert text_cell.strip("`") == peer_id_text(ident.peer_id)
    assert BOB.peer_id < ALICE.peer_id  # the doc says Bob offers


def test_signed_examples_verify():
    ex = examples()
    env = Envelope.from_wire(cbor.decode(doc_hex("envelope")))
    assert env.signed_bytes() == doc_hex("envelope-signed")
    assert env.sig == doc_hex("envelope-sig")
    assert env.msg_id == doc_hex("envelope-id") == hashlib.sha256(doc_hex("envelope")).digest()
    assert f"SHA-256 of those {len(ex['envelope'])} bytes" in doc_text()
    assert asyncio.run(verify_envelope(env, verify))
    assert (env.topic, env.sender, env.seqno, env.ts, env.data) == (TOPIC, ALICE.peer_id, SEQNO, TS, DATA)

    hello = rp.parse_relay_frame(doc_hex("relay-hello"), from_relay=False)
    assert isinstance(hello, rp.Hello)
    assert doc_hex("relay-hello-signed") == rp.hello_payload(
        CHALLENGE_NONCE, RELAY.peer_id, hello.peer, hello.caps, hello.ts
    )
    asyncio.run(rp.verify_hello(hello, CHALLENGE_NONCE, RELAY.peer_id, TS))

    peer, nr, sig2 = handshake.parse_hs2(doc_hex("hs2"))
    assert (peer, nr) == (BOB.peer_id, NR)
    assert verify_now(BOB.peer_id, doc_hex("hs2-signed"), sig2)
    assert verify_now(ALICE.peer_id, doc_hex("hs3-signed"), handshake.parse_hs3(doc_hex("hs3")))
    assert handshake.parse_hs1(doc_hex("hs1")) == (ALICE.peer_id, NI)
    assert handshake.looks_like_hs1(doc_hex("hs1"))
    assert ex["hs2-signed"] == handshake.DOMAIN_HANDSHAKE + cbor.encode(
        {"role": "responder", "initiator": ALICE.peer_id, "responder": BOB.peer_id, "ni": NI, "nr": NR}
    )
    # on the data channel Bob (the offerer) initiates; both fingerprints ride in the transcript
    direct = cbor.decode(doc_hex("hs2-signed-direct")[len(handshake.DOMAIN_HANDSHAKE) :])
    assert direct["dtls"] == [[FP_BOB], [FP_ALICE]] and (direct["initiator"], direct["responder"]) == (
        BOB.peer_id,
        ALICE.peer_id,
    )
    assert direct["dtls"][0] == list(handshake.sdp_fingerprints(SDP))


def test_rpc_examples_parse():
    env = Envelope.from_wire(cbor.decode(doc_hex("envelope")))
    publish = RPC.decode(doc_hex("rpc-publish"))
    assert publish.subs == [SubOpt(True, TOPIC)] and publish.msgs == [env]
    control = RPC.decode(doc_hex("rpc-control"))
    assert control.ihave == [(TOPIC, [env.msg_id])] and control.iwant == [env.msg_id]
    assert control.graft == [TOPIC] and control.prune == [Prune(TOPIC, [RELAY.peer_id], 60)]
    assert not control.msgs and not control.subs


RELAY_FRAMES = {
    "relay-challenge": (True, rp.Challenge(CHALLENGE_NONCE, RELAY.peer_id)),
    "relay-welcome": (
        True,
        rp.Welcome((rp.PeerInfo(BOB.peer_id, NODE_CAPS), rp.PeerInfo(RELAY.peer_id, ("relay",)))),
    ),
    "relay-join": (True, rp.Join(ALICE.peer_id, NODE_CAPS)),
    "relay-signal-from": (True, rp.SignalFrom(BOB.peer_id, cbor.encode({"kind": "offer", "sdp": SDP}))),
    "relay-leave": (True, rp.Leave(BOB.peer_id)),
    "relay-unreachable": (True, rp.Unreachable(BOB.peer_id)),
    "relay-error": (True, rp.Error("rate_limited", "rate_limited: over the relay's per-peer rate")),
    "relay-signal-to": (False, rp.SignalTo(ALICE.peer_id, cbor.encode({"kind": "offer", "sdp": SDP}))),
}


@pytest.mark.parametrize("name", list(RELAY_FRAMES))
def test_relay_examples_parse(name):
    from_relay, frame = RELAY_FRAMES[name]
    assert rp.parse_relay_frame(doc_hex(name), from_relay=from_relay) == frame


def test_circuit_examples_carry_hs1():
    hs1 = doc_hex("hs1")
    assert rp.parse_relay_frame(doc_hex("relay-circuit-to"), from_relay=False) == rp.CircuitTo(
        BOB.peer_id, hs1
    )
    assert rp.parse_relay_frame(doc_hex("relay-circuit-from"), from_relay=True) == rp.CircuitFrom(
        ALICE.peer_id, hs1
    )


def test_chunk_examples():
    assert doc_hex("hs3-chunk") == b"\x00" + doc_hex("hs3")
    r = chunks.Reassembler()
    assert r.push(doc_hex("hs3-chunk")) == doc_hex("hs3")
    body = doc_blocks().get(("text", "chunks"))
    assert body is not None, "PROTOCOL.md has no ```text chunks block"
    assert body == chunk_table(CHUNKED_FRAME_BYTES).split("\n", 1)[1].rsplit("\n```", 1)[0]


def test_limits_table_matches_the_code():
    documented = documented_constants("### 6.1")
    in_code = {k: v for k, v in vars(limits).items() if k.isupper()}
    assert set(documented) == set(in_code), "§6.1 must list every constant of pynode/wire/limits.py"
    for name, value in in_code.items():
        assert documented[name] == value, name


def test_other_constants_match_the_code():
    for heading in ("### 6.2", "### 6.3"):
        documented = documented_constants(heading)
        assert documented
        for name, value in documented.items():
            assert resolve(name) == value, name
    config = documented_constants("### 6.3")
    from relay_server.config import RelayConfig

    wire = {"max_peers", "max_connections_per_ip", "frames_per_s", "frames_burst", "bytes_per_s"}
    wire |= {"bytes_burst", "send_queue_frames", "send_queue_bytes", "hello_timeout_s"}
    assert {f"relay_server.config.RelayConfig.{f.name}" for f in dataclasses.fields(RelayConfig)} >= set(
        config
    )
    assert {f"relay_server.config.RelayConfig.{n}" for n in wire} <= set(config)


def test_gossip_parameters_table_matches_the_code():
    documented = documented_constants("### 6.4")
    expected = {f"GossipParams.{f.name}": f.default for f in dataclasses.fields(GossipParams)}
    expected |= {f"PeerScoreThresholds.{f.name}": f.default for f in dataclasses.fields(PeerScoreThresholds)}
    assert set(documented) == set(expected)
    for name, value in expected.items():
        assert documented[name] == value, name


def test_domains_table_matches_the_code():
    rows = table_rows("| purpose | domain |")
    found = {}
    for _purpose, domain, constant in rows:
        found[constant.strip("`")] = domain.strip("`").replace("\\0", "\0").encode()
    assert found == {
        "pynode.wire.envelope.DOMAIN_MESSAGE": DOMAIN_MESSAGE,
        "pynode.net.relay_proto.DOMAIN_RELAY_HELLO": rp.DOMAIN_RELAY_HELLO,
        "pynode.net.handshake.DOMAIN_HANDSHAKE": handshake.DOMAIN_HANDSHAKE,
        "pynode.state.records.DOMAIN_RECORD": DOMAIN_RECORD,
        "pynode.state.authorship.DOMAIN_CHANGE": DOMAIN_CHANGE,
        "relay_server.gateway.DOMAIN_SUBMIT": DOMAIN_SUBMIT,
        "pynode.net.federation_proto.DOMAIN_FED_DIR": DOMAIN_FED_DIR,
    }
    for constant, value in found.items():
        assert resolve(constant) == value


def test_error_codes_are_the_relays():
    """Every error code in the table is sent somewhere in relay_server/, and the Error class lists the same."""
    codes = {row[0].strip("`") for row in table_rows("| code | sent when |")}
    source = "".join(p.read_text() for p in (ROOT / "relay_server").glob("*.py"))
    for code in codes:
        assert f'"{code}"' in source, code
    comment = re.search(r"code: str  # (.*)", Path(rp.__file__).read_text()).group(1)
    assert codes == {c.strip() for c in comment.split(",")}


def main() -> None:
    """Print the generated blocks of §7, to paste into the document after a deliberate change."""
    for name, buf in examples().items():
        print(f"<!-- {name} -->\n{render_block(name, buf)}\n")
    print(chunk_table(CHUNKED_FRAME_BYTES))


if __name__ == "__main__":
    main()
