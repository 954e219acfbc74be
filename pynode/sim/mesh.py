"""GossipSub on the kernel: one real `Router` per node, their RPCs carried over the kernel's links.

The mesh turns router outputs into kernel actions (`Send` rides a link, `Dial` opens one) and asks the scenario
for the application's verdict on each `Validate`; `Deliver` needs nothing, the validator has seen the message.
Scenarios whose cores publish over gossip (state, and next pulse and research) build one of these.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pynode.gossip.events import Dial, Send, Validate, ValidationResult
from pynode.gossip.params import GossipParams, PeerScoreParams
from pynode.gossip.router import Router
from pynode.gossip.rpc import RPC
from pynode.sim.kernel import Kernel
from pynode.sim.link import LinkModel

# (node, the Validate, the node it came from or None for our own) -> the application's verdict
Validator = Callable[[int, Validate, int | None], ValidationResult]
# (node, sender, rpc): sees every RPC that arrives, before the router does
Observer = Callable[[int, int, RPC], None]


class Mesh:
    def __init__(
        self,
        seed: int,
        link: LinkModel,
        degree: int,
        params: GossipParams,
        validate: Validator,
        score_params: PeerScoreParams | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.kernel = Kernel(seed, link, degree, listener=self)
        self.params = params
        self.score_params = score_params
        self.validate = validate
        self.observe = observe
        self.routers: list[Router] = []
        self.peer_ids: list[bytes] = []
        self.by_id: dict[bytes, int] = {}

    def add(self, peer_id: bytes) -> int:
        """A new node with its own router (seeded from the kernel's rng); `kernel.join` makes it live."""
        index = self.kernel.add()
        rng = random.Random(self.kernel.rng.random())
        self.routers.append(Router(peer_id, self.params, self.score_params, rng=rng))
        self.peer_ids.append(peer_id)
        self.by_id[peer_id] = index
        return index

    def tick(self, index: int) -> None:
        """The router's heartbeat and the peer manager's redials."""
        self.apply(index, self.routers[index].tick(self.kernel.now))
        self.kernel.keep_connected(index)

    # ---- kernel listener ----------------------------------------------------------------------------

    def link_up(self, a: int, b: int) -> None:
        now = self.kernel.now
        self.apply(a, self.routers[a].add_peer(self.peer_ids[b], now, outbound=True))
        self.apply(b, self.routers[b].add_peer(self.peer_ids[a], now))

    def link_down(self, node: int, gone: int) -> None:
        self.apply(node, self.routers[node].remove_peer(self.peer_ids[gone], self.kernel.now))

    # ---- router outputs -----------------------------------------------------------------------------

    def receive(self, dst: int, src: int, rpc: RPC) -> None:
        if self.observe is not None:
            self.observe(dst, src, rpc)
        self.apply(dst, self.routers[dst].receive(self.peer_ids[src], rpc, self.kernel.now), src)

    def apply(self, index: int, outputs: list[Any], src: int | None = None) -> None:
        sends: list[Send] = []
        for out in outputs:
            kind = type(out)
            if kind is Send:
                sends.append(out)
            elif kind is Validate:
                verdict = self.validate(index, out, src)
                router = self.routers[index]
                self.apply(index, router.report_validation(out.msg_id, verdict, self.kernel.now))
            elif kind is Dial:
                other = self.by_id.get(out.peer)
                if other is not None:
                    self.kernel.connect(index, other)
        if len(sends) > 1:
            # routers emit in set order, which varies with the process's hash seed; loss draws must not
            sends.sort(key=_by_peer)
        send = self.kernel.send
        by_id = self.by_id
        for out in sends:
            send(index, by_id[out.peer], self.receive, out.rpc)


def _by_peer(send: Send) -> bytes:
    return send.peer
