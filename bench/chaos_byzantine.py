"""The Byzantine node of `hyperspace bench chaos`, run as its own process: `python -m bench.chaos_byzantine …`.

It runs a rotation of the attacks of issue 15 against the honest nodes on the relay, each from a fresh
identity (identities are free; a banned one is worth nothing to an attacker), over circuits it opens itself
and speaks only as far as it wants to — the same moves as the attack tests (tests/test_attacks.py,
test_state_*.py, test_relay_budget.py, test_gossip_replay.py):

  forged        envelopes claiming an honest sender, signed by someone else
  replay        honest envelopes captured earlier, sent again (duplicates, and past the seen-cache window)
  oversized     a circuit frame over MAX_FRAME_BYTES to a node, and a WebSocket message too big for the relay
  garbage       bytes that are no RPC
  equivocation  two different signed changes for the same Loro ids, one to each of two honest nodes
  state_spam    valid records far beyond the per-author rate quota
  missing_deps  validly signed updates whose dependencies nobody has
  iwant         IWANT amplification: a few hundred bytes asking a node for its cached messages, again and again
  big_messages  valid ~1 MB messages that every honest node forwards

Each attack is logged (JSON lines) with what it sent, so the benchmark counts attacks actually carried out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.attacker import Attacker
from bench.chaos_node import DOC, TOPIC
from pynode.gossip.rpc import RPC, SubOpt
from pynode.identity import Identity
from pynode.net.circuit import CircuitConnection
from pynode.platform import native
from pynode.state.authorship import change_payload, encode_message, loro_peer, ns
from pynode.state.limits import AUTHOR_RATE
from pynode.state.records import Record, make_record
from pynode.state.sync import STATE_TOPIC, run_sync
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, sign_envelope
from pynode.wire.limits import MAX_DATA_BYTES, MAX_FRAME_BYTES, MAX_RELAY_FRAME_BYTES

CONNECT_S = 10.0
CAPTURED = 64  # honest envelopes kept for replays and IWANTs


# ---- crafted state updates (as in tests/test_state_quota.py, test_state_dependencies.py) ------------------


def _result(author: Identity, value: str, ts: int) -> Record:
    body = {"domain": "ml", "task": "chaos-attack", "metric": "val_loss", "unit": "nats", "direction": "min",
            "value": value, "seeds": 1}  # fmt: skip
    return run_sync(make_record(author.signer, "result", body, ts))


def _signed_change(doc: Any, author: Identity, records: list[Record]) -> bytes:
    """The author's own valid, signed change of `records` on `doc`; returns the update."""
    before = doc.version()
    items = [(r.key, r.encoded) for r in records]
    counter, lamport, deps = doc.next_change()
    sig = author.signer.sign_now(change_payload(DOC, doc.peer, counter, lamport, deps, 0, items))
    doc.put(ns(author.peer_id), items, encode_message(author.peer_id, sig))
    return doc.export_updates(before)


def _state(update: bytes) -> bytes:
    return cbor.encode({"doc": DOC, "update": update})


# ---- the attacks -------------------------------------------------------------------------------------


class Byzantine:
    def __init__(self, url: str, log: Path, rng: random.Random) -> None:
        self.url = url
        self.rng = rng
        self._log = log.open("a", encoding="utf-8")
        self.captured: list[Envelope] = []  # honest envelopes seen, oldest first
        self.attacks: dict[str, Callable[[Attacker, list[bytes]], Awaitable[dict[str, Any]]]] = {
            "forged": self.forged,
            "replay": self.replay,
            "oversized": self.oversized,
            "garbage": self.garbage,
            "equivocation": self.equivocation,
            "state_spam": self.state_spam,
            "missing_deps": self.missing_deps,
            "iwant": self.iwant,
            "big_messages": self.big_messages,
        }

    def log(self, **fields: Any) -> None:
        self._log.write(json.dumps({"t": round(time.time(), 3), **fields}) + "\n")
        self._log.flush()

    async def run(self, every: float) -> None:
        names = list(self.attacks)
        turn = 0
        while True:
            name = names[turn % len(names)]
            turn += 1
            started = time.time()
            try:
                detail = await asyncio.wait_for(self._one(name), 60)
                self.log(attack=name, ok=True, s=round(time.time() - started, 2), **detail)
            except Exception as e:  # the network under chaos: the relay may be down, a target gone
                self.log(attack=name, ok=False, error=f"{type(e).__name__}: {e}"[:200])
            await asyncio.sleep(every)

    async def _one(self, name: str) -> dict[str, Any]:
        sybil = await Attacker(self.url).start()
        try:
            targets = [p for p, caps in sybil.client.peers.items() if "attacker" not in caps]
            if not targets:
                raise RuntimeError("no one to attack")
            self.rng.shuffle(targets)
            return await self.attacks[name](sybil, targets)
        finally:
            await sybil.stop()

    async def _open(
        self, sybil: Attacker, target: bytes, topics: tuple[str, ...] = (TOPIC,)
    ) -> CircuitConnection:
        conn = await sybil.open(target, CONNECT_S)
        await conn.send(RPC(subs=[SubOpt(True, t) for t in topics]).encode())
        asyncio.ensure_future(self._capture(conn))
        return conn

    async def _capture(self, conn: CircuitConnection) -> None:
        """Keep honest envelopes the target sends us (for replays and IWANTs)."""
        while True:
            try:
                rpc = RPC.decode(await conn.recv())
            except Exception:
                return
            for env in rpc.msgs:
                if env.topic == TOPIC and len(env.data) < 4096:
                    self.captured.append(env)
            del self.captured[:-CAPTURED]

    async def forged(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        conn = await self._open(sybil, targets[0])
        now = int(time.time() * 1000)
        claimed = targets[1] if len(targets) > 1 else targets[0]
        for i in range(30):
            env = Envelope(TOPIC, claimed, i, now, b"forged-%d" % i, sybil.identity.signer.sign_now(b"x"))
            await conn.send(RPC(msgs=[env]).encode())
        return {"sent": 30}

    async def replay(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        conn = await self._open(sybil, targets[0])
        await asyncio.sleep(2.0)  # catch a few fresh ones too
        old = list(self.captured)
        for env in old:
            for _ in range(3):
                await conn.send(RPC(msgs=[env]).encode())
        return {"sent": 3 * len(old), "oldest_s": round(time.time() - old[0].ts / 1000, 1) if old else None}

    async def oversized(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        conn = await self._open(sybil, targets[0])
        await conn.send(
            b"\xa1" + b"x" * (MAX_FRAME_BYTES + 100)
        )  # over a node's frame limit, under the relay's
        async with connect(self.url, max_size=None) as ws:  # over the relay's: it must cut the socket
            await ws.recv()  # its challenge
            await ws.send(b"\x00" * (MAX_RELAY_FRAME_BYTES + 1024))
            with contextlib.suppress(Exception):  # its error frame, or the close
                await asyncio.wait_for(ws.recv(), 5)
        return {"sent": 2}

    async def garbage(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        conn = await self._open(sybil, targets[0])
        await conn.send(bytes(self.rng.getrandbits(8) for _ in range(200)))
        return {"sent": 1}

    async def equivocation(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        me, now = sybil.identity, int(time.time() * 1000)
        base = native.crdt_doc(loro_peer(me.peer_id))
        first = _signed_change(base, me, [_result(me, "0.5", now)])
        x = _signed_change(base.fork(), me, [_result(me, "0.11", now)])
        y = _signed_change(base.fork(), me, [_result(me, "0.21", now), _result(me, "0.22", now)])
        a = await self._open(sybil, targets[0], (STATE_TOPIC,))
        b = await self._open(sybil, targets[1 % len(targets)], (STATE_TOPIC,))
        for seq, (conn, update) in enumerate(((a, first), (b, first), (a, x), (b, y)), start=1):
            env = await sign_envelope(me.signer, STATE_TOPIC, seq, now, _state(update))
            await conn.send(RPC(msgs=[env]).encode())
        return {"sent": 4}

    async def state_spam(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        me, now = sybil.identity, int(time.time() * 1000)
        doc = native.crdt_doc(loro_peer(me.peer_id))
        conn = await self._open(sybil, targets[0], (STATE_TOPIC,))
        records = [_result(me, f"0.{i}", now) for i in range(AUTHOR_RATE + 80)]  # all within one second
        for seq, lo in enumerate(range(0, len(records), 20), start=1):
            update = _signed_change(doc, me, records[lo : lo + 20])
            env = await sign_envelope(me.signer, STATE_TOPIC, seq, now, _state(update))
            await conn.send(RPC(msgs=[env]).encode())
        return {"sent": len(records)}

    async def missing_deps(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        me, now = sybil.identity, int(time.time() * 1000)
        conn = await self._open(sybil, targets[0], (STATE_TOPIC,))
        for seq in range(1, 41):
            doc = native.crdt_doc(loro_peer(me.peer_id))
            ghost = native.crdt_doc(self.rng.getrandbits(48))
            ghost.put("ghost", [("k", b"v")], "nobody")
            doc.import_(ghost.export_updates({}))
            update = _signed_change(doc, me, [_result(me, f"0.{seq}", now)])
            env = await sign_envelope(me.signer, STATE_TOPIC, seq, now, _state(update))
            await conn.send(RPC(msgs=[env]).encode())
        return {"sent": 40}

    async def iwant(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        conn = await self._open(sybil, targets[0])
        await asyncio.sleep(3.0)  # its own messages and what it forwards reach us
        ids = [e.msg_id for e in self.captured[-32:]]
        if not ids:
            raise RuntimeError("nothing captured to ask for")
        frame, sent, started = RPC(iwant=ids).encode(), 0, time.monotonic()
        while time.monotonic() - started < 4.0:
            await conn.send(frame)
            sent += 1
            await asyncio.sleep(0.1)
        return {"sent": sent, "ids": len(ids)}

    async def big_messages(self, sybil: Attacker, targets: list[bytes]) -> dict[str, Any]:
        conn = await self._open(sybil, targets[0])
        size = min(MAX_DATA_BYTES, 1_000_000)
        started = time.monotonic()
        for seq in range(1, 7):
            data = seq.to_bytes(8, "big") * (size // 8)
            env = await sign_envelope(sybil.identity.signer, TOPIC, seq, int(time.time() * 1000), data)
            await conn.send(RPC(msgs=[env]).encode())
            await asyncio.sleep(max(0.0, seq * size / 1.5e6 - (time.monotonic() - started)))
        return {"sent": 6, "bytes": 6 * size}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chaos_byzantine")
    p.add_argument("--relay", required=True)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--every", type=float, default=3.0, help="seconds between attacks")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    byz = Byzantine(args.relay, args.log, random.Random(args.seed))
    asyncio.run(byz.run(args.every))


if __name__ == "__main__":
    main()
