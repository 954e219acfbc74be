"""The message cache (GossipSub v1.0 "Message Cache"): recent messages by heartbeat window.

IWANT is answered from the last `mcache_len` windows; IHAVE advertises the ids of the last `mcache_gossip`.
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
        self._transmissions: dict[bytes, dict[bytes, int]] = {}  # msg id -> peer -> times served to it

    def __contains__(self, msg_id: bytes) -> bool:
        return msg_id in self._msgs

    def put(self, env: Envelope) -> None:
        if env.msg_id not in self._msgs:
            self._msgs[env.msg_id] = env
            self._windows[0].append((env.msg_id, env.topic))

    def get(self, msg_id: bytes) -> Envelope | None:
        return self._msgs.get(msg_id)

    def get_for_peer(self, msg_id: bytes, peer: bytes) -> tuple[Envelope | None, int]:
        """The message and how many times `peer` has now asked for it (go-libp2p's GetForPeer)."""
        env = self._msgs.get(msg_id)
        if env is None:
            return None, 0
        counts = self._transmissions.setdefault(msg_id, {})
        counts[peer] = counts.get(peer, 0) + 1
        return env, counts[peer]

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
            self._transmissions.pop(mid, None)
        self._windows.appendleft([])
