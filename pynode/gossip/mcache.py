"""The message cache (GossipSub v1.0 "Message Cache"): recent messages by heartbeat window.

IWANT is answered from the last `mcache_len` windows (then from the router's longer `History`); IHAVE advertises
the ids of the last `mcache_gossip`. The router counts IWANT retransmissions (go-libp2p's GetForPeer) itself, for
as long as it remembers a message as seen, so moving from this cache to the history resets no count.
`shift()` runs once per heartbeat and forgets the oldest window.
"""

from __future__ import annotations

from collections import deque

from pynode.wire.envelope import Envelope


class MessageCache:
    def __init__(self, history_len: int, gossip_len: int) -> None:
        if not 0 < gossip_len <= history_len:
            raise ValueError("need 0 < mcache_gossip <= mcache_len")
        self._gossip_len = gossip_len
        self._windows: deque[list[tuple[bytes, str]]] = deque([[] for _ in range(history_len)])
        self._msgs: dict[bytes, Envelope] = {}

    def __contains__(self, msg_id: bytes) -> bool:
        return msg_id in self._msgs

    def put(self, env: Envelope) -> None:
        if env.msg_id not in self._msgs:
            self._msgs[env.msg_id] = env
            self._windows[0].append((env.msg_id, env.topic))

    def get(self, msg_id: bytes) -> Envelope | None:
        return self._msgs.get(msg_id)

    def gossip_ids(self, topic: str) -> list[bytes]:
        ids: list[bytes] = []
        for i in range(self._gossip_len):
            ids.extend(mid for mid, t in self._windows[i] if t == topic)
        return ids

    def gossip_topics(self) -> list[str]:
        """Topics with ids to advertise, in a fixed order (a seeded router must draw its randomness alike)."""
        return sorted({t for i in range(self._gossip_len) for _, t in self._windows[i]})

    def shift(self) -> None:
        for mid, _ in self._windows.pop():
            del self._msgs[mid]
        self._windows.appendleft([])
