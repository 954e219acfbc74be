"""One conformance suite for the platform seam, run against `native` in CPython and `browser` in Pyodide.

Each check takes a `Platform` and a context (`relay_url`, `key_place`) and returns normally or raises
AssertionError. `run_all` runs them all and reports `[{name, ok, detail}]`, so the browser test can show
exactly which check failed in the tab. The suite uses nothing of pynode above `wire` (the package rule of
pynode/platform); checks of code built on the seam (the ECVRF) come with their package and are passed to
`run_all` by whoever runs the suite.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pynode.platform import Platform
from pynode.platform.crdt import Change, CrdtError, Op
from pynode.platform.ed25519_group import IDENTITY_ENCODING
from pynode.platform.transport import ConnectionClosed
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
ED25519_L = 2**252 + 27742317777372353535851937790883648493  # the prime group order
CLOCK_SLACK_S = 0.005


Check = Callable[[Platform, dict[str, Any]], Awaitable[None]]

# ---- the protocol itself --------------------------------------------------------------------------

Member = tuple[bool, tuple[tuple[str, bool], ...]]  # (async?, ((parameter, has default), ...))


def protocol_members() -> dict[str, Member]:
    """Every member `Platform` declares, as (async?, parameters without `self`)."""
    return {
        name: describe(fn, skip_self=True)
        for name, fn in vars(Platform).items()
        if inspect.isfunction(fn) and not name.startswith("_")
    }


def describe(fn: Callable[..., Any], skip_self: bool = False) -> Member:
    params = list(inspect.signature(fn).parameters.values())[1 if skip_self else 0 :]
    shape = tuple((q.name, q.default is not inspect.Parameter.empty) for q in params)
    return inspect.iscoroutinefunction(fn), shape


def mismatches(members: dict[str, Member], found: dict[str, Member | None]) -> list[str]:
    """How an implementation (`found`: member → its shape, None if missing) departs from `members`."""
    problems = []
    for name, (is_async, params) in sorted(members.items()):
        got = found.get(name)
        if got is None:
            problems.append(f"{name} is missing")
            continue
        if got[0] != is_async:
            problems.append(f"{name} must {'' if is_async else 'not '}be async")
        names, got_names = [n for n, _ in params], [n for n, _ in got[1]]
        if got_names[: len(names)] != names:
            problems.append(f"{name}{tuple(got_names)} takes other parameters than {tuple(names)}")
        elif any(d and not gd for (_, d), (_, gd) in zip(params, got[1], strict=False)):
            problems.append(f"{name} lacks a default the protocol has")
        elif not all(gd for _, gd in got[1][len(names) :]):
            problems.append(f"{name} has extra parameters without defaults")
    return problems


async def check_platform_protocol(p: Platform, _: dict[str, Any]) -> None:
    """This platform has every member of `Platform`, async where the protocol is, with its parameters."""
    found = {
        name: describe(getattr(p, name)) if callable(getattr(p, name, None)) else None
        for name in protocol_members()
    }
    problems = mismatches(protocol_members(), found)
    assert not problems, "; ".join(problems)


# ---- keys and signatures --------------------------------------------------------------------------


async def check_rfc8032_vector(p: Platform, _: dict[str, Any]) -> None:
    signer = await p.load_signer(RFC8032_SEED)
    assert signer.public_key == RFC8032_PUBLIC, "public key differs from RFC 8032"
    assert await signer.sign(b"") == RFC8032_SIG, "signature differs from RFC 8032"
    assert await p.verify(RFC8032_PUBLIC, b"", RFC8032_SIG)


async def check_verify_refuses_forgeries(p: Platform, _: dict[str, Any]) -> None:
    signer = await p.load_signer(bytes([7]) * 32)
    sig = await signer.sign(b"message")
    assert await p.verify(signer.public_key, b"message", sig)
    assert not await p.verify(signer.public_key, b"messagE", sig), "tampered message verified"
    assert not await p.verify(signer.public_key, b"message", sig[:-1] + bytes([sig[-1] ^ 1])), "tampered sig"
    assert not await p.verify(RFC8032_PUBLIC, b"message", sig), "wrong key verified"
    assert not await p.verify(b"\x00" * 31, b"message", sig), "short key verified"
    assert not await p.verify(signer.public_key, b"message", sig[:63]), "short signature verified"


async def check_verify_later_answers_as_verify(p: Platform, _: dict[str, Any]) -> None:
    """A batch answers each check, in order, as `verify` would: forgeries, malformed and unknown keys included."""
    signer = await p.load_signer(bytes([7]) * 32)
    sig = await signer.sign(b"message")
    key = signer.public_key
    checks = [
        (key, b"message", sig),
        (key, b"messagE", sig),
        (RFC8032_PUBLIC, b"", RFC8032_SIG),
        (RFC8032_PUBLIC, b"message", sig),
        (b"\x00" * 31, b"message", sig),
        (key, b"message", sig[:63]),
        (bytes([0xFF]) * 32, b"message", sig),  # not a point on the curve
        (key, b"message", sig),
    ]
    expected = [await p.verify(*c) for c in checks]
    assert expected == [True, False, True, False, False, False, False, True], expected
    answers = p.verify_later(checks)  # started now: the caller may do other work before it awaits
    assert await answers == expected, "a batch answered otherwise than verify"
    assert await p.verify_later([]) == []


async def check_key_storage(p: Platform, ctx: dict[str, Any]) -> None:
    """load_or_create_seed makes a key seed once and gives the same seed back after (a file / IndexedDB)."""
    place = ctx.get("key_place")
    if not place:
        return
    first = await p.load_or_create_seed(place)
    again = await p.load_or_create_seed(place)
    assert len(first) == 32 and again == first, "a stored key seed came back different"
    signer = await p.load_signer(again)
    assert await p.verify(signer.public_key, b"kept", await signer.sign(b"kept"))


async def check_random_bytes(p: Platform, _: dict[str, Any]) -> None:
    a, b = p.random_bytes(32), p.random_bytes(32)
    assert len(a) == 32 and a != b


async def check_ed25519_group(p: Platform, _: dict[str, Any]) -> None:
    """The ECVRF's group (ed25519_group.py): RFC 8032 key derivation and the point rules, alike everywhere.
    (The ECVRF on top, RFC 9381 byte for byte, is pynode.identity's check.)"""
    group = p.ed25519_group()
    for seed, public, _, proof, _ in VRF_VECTORS:
        h = bytearray(hashlib.sha512(seed).digest()[:32])
        h[0], h[31] = h[0] & 248, (h[31] & 127) | 64  # RFC 8032 §5.1.5 clamping
        assert group.scalarmult_base(int.from_bytes(h, "little") % ED25519_L) == public, "public key"
        gamma = proof[:32]
        assert group.is_valid_point(gamma), "a proof's Γ was refused"
        assert group.sub(gamma, gamma) == IDENTITY_ENCODING
        assert group.clear_cofactor(gamma) == group.scalarmult(8, gamma)
    order_two = (2**255 - 20).to_bytes(32, "little")  # (0, -1): on the curve, canonical, of order 2
    for name, bad in (("the identity", IDENTITY_ENCODING), ("a point of order 2", order_two),
                      ("a non-canonical encoding", b"\xff" * 32)):  # fmt: skip
        assert not group.is_valid_point(bad), f"{name} was accepted"


# ---- the wire's bytes -----------------------------------------------------------------------------


async def check_envelope_identical_across_platforms(p: Platform, _: dict[str, Any]) -> None:
    signer = await p.load_signer(ENVELOPE_SEED)
    env = await sign_envelope(signer, "hs/1/conformance", 7, 1_700_000_000_000, b"same bytes everywhere")
    assert env.msg_id.hex() == ENVELOPE_ID, f"message id {env.msg_id.hex()}"
    assert await verify_envelope(Envelope.from_wire(cbor.decode(cbor.encode(env.to_wire()))), p.verify)


async def check_strict_decoding(p: Platform, _: dict[str, Any]) -> None:
    for bad in (b"\x9f\x01\xff", b"\x18\x05", b"\xc1\x01", b"\xa1\x01\x01"):
        try:
            cbor.decode(bad)
        except WireError:
            continue
        raise AssertionError(f"{bad.hex()} was accepted")


# ---- transports -----------------------------------------------------------------------------------


async def check_relay_link(p: Platform, ctx: dict[str, Any]) -> None:
    """A real relay over this platform's WebSocket: its challenge arrives as a binary frame, a frame we send
    arrives (a malformed hello, answered with an `error` frame), and its close surfaces as ConnectionClosed."""
    url = ctx.get("relay_url")
    if not url:
        return
    sock = await p.relay_link(url).connect()
    try:
        challenge = cbor.decode(await sock.recv())
        assert isinstance(challenge, dict) and challenge.get("t") == "challenge", f"first frame {challenge}"
        await sock.send(cbor.encode({"t": "hello"}))
        error = cbor.decode(await sock.recv())
        assert isinstance(error, dict) and error.get("t") == "error", f"answer to a bad hello: {error}"
        try:
            extra = await sock.recv()
        except ConnectionClosed:
            return
        raise AssertionError(f"the relay kept talking after refusing us: {extra.hex()[:64]}")
    finally:
        await sock.close()


# ---- the CRDT -------------------------------------------------------------------------------------


CRDT_PEER = 0x5EED_1234_ABCD_0042  # above 2**53: loro-crdt must carry it as a BigInt, not a float
CRDT_OTHER = 3


async def check_crdt_document(p: Platform, _: dict[str, Any]) -> None:
    """The CrdtDoc seam (platform/crdt.py) behaves alike on loro and loro-crdt: what pynode/state relies on."""
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
    many = doc.get_many("alpha", ["j", "nope", "k"])
    assert many == [b"v", None, b"\x00\x01\xff"] and doc.get_many("alpha", []) == [], f"get_many {many}"
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
    later_meta = p.crdt_blob_meta(later)
    assert later_meta.end == {CRDT_OTHER: 1} and later_meta.deps == ((CRDT_PEER, 1),), later_meta
    assert later_meta.missing_from({}) and not later_meta.missing_from(other.version())

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


async def check_crdt_split(p: Platform, _: dict[str, Any]) -> None:
    """A platform that splits blobs (crdt.BlobSplit: the browser's worker) hands over parts that rebuild the
    blob: its header as crdt_blob_meta reads it, parts of at most the changes asked for, each importable on those
    before it, together the blob's version and values; garbage is refused. CPython takes blobs whole."""
    make = getattr(p, "crdt_split", None)
    if make is None:
        return
    await p.crdt_ready()
    first, second = p.crdt_doc(CRDT_PEER), p.crdt_doc(CRDT_OTHER)
    for i in range(5):
        first.put("alpha", [(f"a{i}", bytes([i]))], f"a{i}")
    second.import_(first.export_updates({}))  # the second author's changes depend on the first's
    for i in range(4):
        second.put("beta", [(f"b{i}", bytes([i]) * 3)], f"b{i}")
    snapshot = second.export_snapshot()
    split = make(snapshot, 2)
    assert split is not None, "no splitter"
    rebuilt, sizes = p.crdt_doc(CRDT_OTHER + 1), []
    try:
        assert await split.meta() == p.crdt_blob_meta(snapshot), "the splitter read another header"
        while (part := await split.next()) is not None:
            sizes.append(p.crdt_blob_meta(part).change_count)
            assert not rebuilt.import_(part).pending, "a part came before its dependencies"
    finally:
        split.close()
    assert sizes == [2, 2, 2, 2, 1], f"parts of {sizes} changes"
    assert rebuilt.version() == second.version() and rebuilt.roots() == second.roots()
    garbage = make(b"\x00not loro", 2)
    try:
        await garbage.meta()
    except CrdtError:
        return
    finally:
        garbage.close()
    raise AssertionError("garbage was split")


# ---- pacing ---------------------------------------------------------------------------------------


async def check_paced_sync_loop(p: Platform, _: dict[str, Any]) -> None:
    """A synchronous loop paced by CpuBudget really pauses (in the browser: JSPI suspends the stack)."""
    from pynode.pace import CpuBudget

    budget = CpuBudget(0.5, sleep_blocking=p.sleep_blocking)
    t0 = time.perf_counter()
    while time.perf_counter() < t0 + 0.02:
        pass
    budget.pace_blocking()
    elapsed = time.perf_counter() - t0
    # a sleep never ends early; the slack covers a browser's coarsened clock
    assert elapsed >= budget.busy_s + budget.idle_s - CLOCK_SLACK_S, f"slept {elapsed - budget.busy_s:.4f} s"


CHECKS: list[Check] = [
    check_platform_protocol,
    check_rfc8032_vector,
    check_verify_refuses_forgeries,
    check_verify_later_answers_as_verify,
    check_key_storage,
    check_random_bytes,
    check_ed25519_group,
    check_envelope_identical_across_platforms,
    check_strict_decoding,
    check_relay_link,
    check_crdt_document,
    check_crdt_split,
    check_paced_sync_loop,
]


async def run_all(
    platform: Platform,
    relay_url: str | None = None,
    key_place: str | None = None,
    checks: list[Check] | None = None,
) -> list[dict[str, Any]]:
    """Run `checks` (this suite's by default) against `platform`; one result per check."""
    ctx = {"relay_url": relay_url, "key_place": key_place}
    results = []
    for check in CHECKS if checks is None else checks:
        try:
            await check(platform, ctx)
            results.append({"name": check.__name__, "ok": True, "detail": ""})
        except Exception as e:
            results.append({"name": check.__name__, "ok": False, "detail": f"{type(e).__name__}: {e}"})
    return results
