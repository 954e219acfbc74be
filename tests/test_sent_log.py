"""The sent log (pynode/runtime/sent.py): our messages survive a kill of the node and are offered again."""

from __future__ import annotations

import time

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.platform.native import NaclSigner
from pynode.runtime.sent import SentLog
from pynode.wire import cbor
from pynode.wire.envelope import sign_envelope

TOPIC = "hs/1/test/sent"
URL = "ws://127.0.0.1:9/p2p"  # never started: nothing is dialled


def node(seed: int = 1) -> Node:
    return Node(Identity(NaclSigner(bytes([seed]) * 32)), native.relay_link(URL), NodeConfig())


async def test_messages_published_before_a_kill_are_held_again_after_the_restart(tmp_path):
    path = tmp_path / "sent"
    first = node()
    assert await SentLog(first, path).open() == 0
    envs = [await first.publish(TOPIC, bytes([i])) for i in range(3)]
    # the process dies here: nothing but the file is left; the next run restores what is young enough
    again = node()
    assert await SentLog(again, path).open() == 3
    assert again.router.counters["restored"] == 3 and len(again.router.held) == 3
    assert [again.router.history.get(e.msg_id) for e in envs] == envs


async def test_a_damaged_log_gives_back_only_our_own_intact_young_messages(tmp_path):
    path = tmp_path / "sent"
    mine = node()
    log = SentLog(mine, path)
    await log.open()
    good = await mine.publish(TOPIC, b"good")
    now_ms = int(time.time() * 1000)
    stranger = NaclSigner(bytes([2]) * 32)
    log.append(await sign_envelope(stranger, TOPIC, 1, now_ms, b"not ours"))
    log.append(await sign_envelope(mine.identity.signer, TOPIC, 2, now_ms - 3_600_000, b"an hour old"))
    forged = await sign_envelope(mine.identity.signer, TOPIC, 3, now_ms, b"signed")
    wire = forged.to_wire() | {"data": b"altered"}
    blob = cbor.encode(wire)
    with path.open("ab") as f:
        f.write(len(blob).to_bytes(4, "big") + blob)
        f.write((1000).to_bytes(4, "big") + b"cut short by a kill")
    again = node()
    assert await SentLog(again, path).open() == 1
    assert again.router.history.get(good.msg_id) == good
    assert await SentLog(node(), path).open() == 1  # rewritten down to what is worth keeping, still readable
