"""Our own recent gossip messages on disk, so that a node killed before they reached anyone offers them again.

A message published while its node has no peer is held in memory (gossip/history.py), and one sent just before a
relay died may be in nobody's hands: a node SIGKILLed then lost it. With a sent log every message is appended
to a file before it is routed (as StateReplica's `save_to` saves a write before gossiping it), and at start the
messages still young enough for the router to keep (`history_ttl`, within what receivers accept) go back into
the router: into the history its new peers are told of, and held for the first peers that subscribe. Peers that
got them the first time drop the copies as duplicates (their seen cache outlasts the freshness window).

The file is length-prefixed envelopes (4-byte big-endian length, then the canonical CBOR of the envelope),
appended; a tail cut by a kill mid-write is ignored, as is anything not ours or not parseable. It is rewritten
down to the young messages at start and every SENT_LOG_COMPACT_EVERY appends.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections import deque
from pathlib import Path

from pynode.identity import verify
from pynode.node import Node
from pynode.runtime.limits import SENT_LOG_COMPACT_EVERY, SENT_LOG_MAX_BYTES
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, verify_envelope
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")


class SentLog:
    def __init__(self, node: Node, path: Path) -> None:
        self.node = node
        self.path = Path(path)
        self.ttl_ms = int(node.router.params.history_ttl * 1000)
        self._kept: deque[tuple[int, bytes]] = deque()  # (ts, encoded) of what the file holds, oldest first
        self._appends = 0

    async def open(self) -> int:
        """Restore the young messages into the node's router and start logging; returns how many came back.
        Call it before the node starts, so they are held when its first peers subscribe."""
        now_ms = int(time.time() * 1000)
        restored = 0
        for env, blob in self._read():
            age_ms = now_ms - env.ts
            if env.sender != self.node.peer_id or not 0 <= age_ms < self.ttl_ms:
                continue
            if not await verify_envelope(env, verify):
                continue  # a damaged file: sent again, it would get us penalised
            self.node.router.restore_own(env, time.monotonic(), age_ms / 1000)
            self._kept.append((env.ts, blob))
            restored += 1
        self._rewrite(now_ms)
        self.node.on_publish = self.append
        if restored:
            log.info("offering again %d of our messages from before the restart", restored)
        return restored

    def append(self, env: Envelope) -> None:
        blob = cbor.encode(env.to_wire())
        self._kept.append((env.ts, blob))
        try:
            with self.path.open("ab") as f:
                f.write(_LEN.pack(len(blob)) + blob)
        except OSError as e:
            log.warning(
                "sent log %s: %s", self.path, e
            )  # the message still goes out; only its second chance is lost
        self._appends += 1
        if self._appends >= SENT_LOG_COMPACT_EVERY:
            self._rewrite(int(time.time() * 1000))

    def _read(self) -> list[tuple[Envelope, bytes]]:
        try:
            with self.path.open("rb") as f:
                data = f.read(SENT_LOG_MAX_BYTES)
        except FileNotFoundError:
            return []
        out, pos = [], 0
        while pos + _LEN.size <= len(data):
            (size,) = _LEN.unpack_from(data, pos)
            blob = data[pos + _LEN.size : pos + _LEN.size + size]
            if size > MAX_FRAME_BYTES or len(blob) < size:
                break  # cut by a kill mid-write, or not a sent log: nothing after it can be trusted to align
            pos += _LEN.size + size
            try:
                out.append((Envelope.from_wire(cbor.decode(blob)), blob))
            except WireError:
                continue
        return out

    def _rewrite(self, now_ms: int) -> None:
        while self._kept and now_ms - self._kept[0][0] >= self.ttl_ms:
            self._kept.popleft()
        self._appends = 0
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(b"".join(_LEN.pack(len(blob)) + blob for _, blob in self._kept))
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("sent log %s: %s", self.path, e)
