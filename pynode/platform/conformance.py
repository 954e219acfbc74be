"""One conformance suite for the platform seam, run against `native` in CPython and `browser` in Pyodide.

Each check takes the platform module and returns normally or raises AssertionError. `run_all` runs them all
and reports `[{name, ok, detail}]`, so the browser test can show exactly which check failed in the tab.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from pynode.wire import cbor
from pynode.wire.envelope import Envelope, sign_envelope, verify_envelope
from pynode.wire.errors import WireError

# RFC 8032 §7.1, test 1 (empty message)
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
# A fixed envelope: its id must be the same on every platform (deterministic CBOR + deterministic Ed25519).
ENVELOPE_SEED = bytes([1]) * 32
ENVELOPE_ID = "fd1745f1bd0a7180732f0b6e552cefc7963cb6b6820764ead9153e1331f2d735"

# RFC 9381 appendix B.3, examples 16–18 (ECVRF-EDWARDS25519-SHA512-TAI): (seed, public key, alpha, π, β)
VRF_VECTORS = [
    tuple(bytes.fromhex(h) for h in v)
    for v in (
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d97"
            "27d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
            "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af02679"
            "8e8f81cd2e333de5cdf4f3e140fdd8ae",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465"
            "301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
            "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848"
            "a0bef4553a41befc57663b56373a5031",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0"
            "e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
            "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241"
            "578be7217ba85a2687f7a0310b2df19f",
        ),
    )
]

Check = Callable[[ModuleType, dict[str, Any]], Awaitable[None]]


async def check_rfc8032_vector(p: ModuleType, _: dict[str, Any]) -> None:
    signer = await p.load_signer(RFC8032_SEED)
    assert signer.public_key == RFC8032_PUBLIC, "public key differs from RFC 8032"
    assert await signer.sign(b"") == RFC8032_SIG, "signature differs from RFC 8032"
    assert await p.verify(RFC8032_PUBLIC, b"", RFC8032_SIG)


async def check_verify_refuses_forgeries(p: ModuleType, _: dict[str, Any]) -> None:
    signer = await p.load_signer(bytes([7]) * 32)
    sig = await signer.sign(b"message")
    assert await p.verify(signer.public_key, b"message", sig)
    assert not await p.verify(signer.public_key, b"messagE", sig), "tampered message verified"
    assert not await p.verify(signer.public_key, b"message", sig[:-1] + bytes([sig[-1] ^ 1])), "tampered sig"
    assert not await p.verify(RFC8032_PUBLIC, b"message", sig), "wrong key verified"
    assert not await p.verify(b"\x00" * 31, b"message", sig), "short key verified"
    assert not await p.verify(signer.public_key, b"message", sig[:63]), "short signature verified"


async def check_random_bytes(p: ModuleType, _: dict[str, Any]) -> None:
    a, b = p.random_bytes(32), p.random_bytes(32)
    assert len(a) == 32 and a != b


async def check_envelope_identical_across_platforms(p: ModuleType, _: dict[str, Any]) -> None:
    signer = await p.load_signer(ENVELOPE_SEED)
    env = await sign_envelope(signer, "hs/1/conformance", 7, 1_700_000_000_000, b"same bytes everywhere")
    assert env.msg_id.hex() == ENVELOPE_ID, f"message id {env.msg_id.hex()}"
    assert await verify_envelope(Envelope.from_wire(cbor.decode(cbor.encode(env.to_wire()))))


async def check_strict_decoding(p: ModuleType, _: dict[str, Any]) -> None:
    for bad in (b"\x9f\x01\xff", b"\x18\x05", b"\xc1\x01", b"\xa1\x01\x01"):
        try:
            cbor.decode(bad)
        except WireError:
            continue
        raise AssertionError(f"{bad.hex()} was accepted")


async def check_relay_hello(p: ModuleType, ctx: dict[str, Any]) -> None:
    """Join a real relay through this platform's WebSocket: challenge, signed hello, welcome."""
    url = ctx.get("relay_url")
    if not url:
        return
    from pynode.net import relay_proto as rp

    sock = await p.relay_link(url).connect()
    try:
        challenge = rp.parse_relay_frame(await sock.recv(), from_relay=True)
        assert isinstance(challenge, rp.Challenge)
        signer = await p.load_signer(p.random_bytes(32))
        hello = await rp.make_hello(
            signer, challenge.nonce, challenge.relay, ("conformance",), int(time.time() * 1000)
        )
        await sock.send(hello.encode())
        assert isinstance(rp.parse_relay_frame(await sock.recv(), from_relay=True), rp.Welcome)
    finally:
        await sock.close()


async def check_vrf_rfc9381(p: ModuleType, _: dict[str, Any]) -> None:
    """ECVRF on this platform's group: RFC 9381 byte for byte (so proofs cross platforms), forgeries refused."""
    from pynode.identity import vrf

    group = p.ed25519_group()
    for i, (seed, pk, alpha, pi, beta) in enumerate(VRF_VECTORS, start=16):
        key = vrf.VrfKey(seed, group)
        assert key.public_key == pk, f"example {i}: public key"
        assert key.prove(alpha) == pi, f"example {i}: proof {key.prove(alpha).hex()}"
        assert vrf.verify(pk, pi, alpha, group) == beta, f"example {i}: verify"
        assert vrf.proof_to_hash(pi, group) == beta, f"example {i}: proof_to_hash"
    seed, pk, alpha, pi, _ = VRF_VECTORS[0]
    identity, s = (1).to_bytes(32, "little"), int.from_bytes(pi[48:], "little")
    refused = {
        "tampered Γ": (pk, bytes([pi[0] ^ 1]) + pi[1:], alpha),
        "tampered s": (pk, pi[:-1] + bytes([pi[-1] ^ 1]), alpha),
        "unreduced s": (pk, pi[:48] + (s + vrf.L).to_bytes(32, "little"), alpha),
        "other alpha": (pk, pi, b"\x00"),
        "other key": (VRF_VECTORS[1][1], pi, alpha),
        "small-order key": (identity, pi, alpha),
        "small-order Γ": (pk, identity + pi[32:], alpha),
        "short proof": (pk, pi[:79], alpha),
    }
    for what, (key_bytes, proof, message) in refused.items():
        assert vrf.verify(key_bytes, proof, message, group) is None, f"{what} verified"


CRDT_PEER = 0x5EED_1234_ABCD_0042  # above 2**53: loro-crdt must carry it as a BigInt, not a float
CRDT_OTHER = 3


async def check_crdt_document(p: ModuleType, _: dict[str, Any]) -> None:
    """The CrdtDoc seam (platform/crdt.py) behaves alike on loro and loro-crdt: what pynode/state relies on."""
    from pynode.platform.crdt import Change, CrdtError, Op

    await p.crdt_ready()
    doc = p.crdt_doc(CRDT_PEER)
    assert doc.peer == CRDT_PEER, f"peer id {doc.peer}"
    assert doc.next_change() == (0, 0, ()), f"first change {doc.next_change()}"
    doc.put("alpha", [("k", b"\x00\x01\xff"), ("j", b"v")], "signed by nobody")
    root = "cid:root-alpha:Map"
    expected = Change(
        CRDT_PEER, 0, 2, 0, (), 0, "signed by nobody",
        (Op(root, "insert", "k", b"\x00\x01\xff"), Op(root, "insert", "j", b"v")),
    )  # fmt: skip
    assert doc.changes(CRDT_PEER, 0, 2) == [expected], f"changes {doc.changes(CRDT_PEER, 0, 2)}"
    first = doc.change_at(CRDT_PEER, 0)
    assert first is not None and first.ops == expected.ops[:1], f"change at 0: {first}"
    assert doc.version() == {CRDT_PEER: 2}
    assert doc.get("alpha", "k") == b"\x00\x01\xff" and doc.get("alpha", "nope") is None
    assert doc.roots() == {"alpha": {"k": b"\x00\x01\xff", "j": b"v"}}, f"roots {doc.roots()}"

    update, snapshot = doc.export_updates({}), doc.export_snapshot()
    meta = p.crdt_blob_meta(update)
    assert (meta.mode, meta.change_count, meta.start, meta.end) == ("updates", 1, {}, {CRDT_PEER: 2}), meta
    assert p.crdt_blob_meta(snapshot).mode == "snapshot"

    other = p.crdt_doc(CRDT_OTHER)
    assert not other.import_(snapshot).pending
    assert other.roots() == doc.roots()
    assert other.next_change() == (0, 2, ((CRDT_PEER, 1),)), f"after import {other.next_change()}"
    fork = other.fork()
    assert fork.peer == CRDT_OTHER
    fork.put("beta", [("x", b"y")], "in the fork")
    assert other.version() == {CRDT_PEER: 2} and fork.version() == {CRDT_PEER: 2, CRDT_OTHER: 1}
    later = fork.export_updates(other.version())
    assert p.crdt_blob_meta(later).end == {CRDT_OTHER: 1}

    orphan = p.crdt_doc(CRDT_OTHER + 1)
    assert orphan.import_(later).pending, "an update whose dependencies are missing must wait"
    for bad in (lambda: orphan.import_(b"\x00not loro"), lambda: p.crdt_blob_meta(b"xx")):
        try:
            bad()
        except CrdtError:
            continue
        raise AssertionError("garbage was accepted")
    try:
        doc.put("a/b", [("k", b"v")], "bad root name")
    except CrdtError:
        pass
    else:
        raise AssertionError("a root name with '/' was accepted")


async def check_paced_sync_loop(p: ModuleType, _: dict[str, Any]) -> None:
    """A synchronous loop paced by CpuBudget really pauses (in the browser: JSPI suspends the stack)."""
    from pynode.pace import CpuBudget

    budget = CpuBudget(0.5, sleep_blocking=p.sleep_blocking)
    t0 = time.perf_counter()
    end = t0 + 0.02
    while time.perf_counter() < end:
        pass
    budget.pace_blocking()
    elapsed = time.perf_counter() - t0
    assert budget.idle_s >= 0.02 and elapsed >= 0.039, f"paced 20 ms of work at half share in {elapsed:.3f} s"


CHECKS: list[Check] = [
    check_rfc8032_vector,
    check_verify_refuses_forgeries,
    check_random_bytes,
    check_envelope_identical_across_platforms,
    check_strict_decoding,
    check_relay_hello,
    check_crdt_document,
    check_vrf_rfc9381,
]


async def run_all(platform: ModuleType, relay_url: str | None = None) -> list[dict[str, Any]]:
    ctx = {"relay_url": relay_url}
    results = []
    for check in CHECKS:
        try:
            await check(platform, ctx)
            results.append({"name": check.__name__, "ok": True, "detail": ""})
        except Exception as e:
            results.append({"name": check.__name__, "ok": False, "detail": f"{type(e).__name__}: {e}"})
    return results
