"""The one discrete-event kernel every simulation runs on: virtual time, links with latency and loss, churn.

The kernel knows nodes only as indices and messages only as opaque payloads; a scenario owns the protocol cores
(routers, sync engines, DiLoCo machines) and drives them with these four pieces:

- time: `at(t, fn, *args)` schedules a call in virtual time; `run_until(t)` runs every call due by `t` in time
  order (ties in scheduling order) and leaves `now == t`. Nothing else moves `now`, so the sans-IO cores get
  their `now` from `kernel.now`.
- membership: `add()` gives a new node its index; `join(i)` makes it live and dials `degree` random live nodes;
  `leave(i)` takes it down with all its links; `pick_live()` and `random_live()` draw nodes for churn.
- links: `connect(a, b)` opens a link whose one-way latency the `LinkModel` draws once; `send(src, dst, fn, msg)`
  calls `fn(dst, src, msg)` one latency later unless the loss draw drops it or the link or `dst` is gone by then;
  `keep_connected(i)` is the peer manager's job: a node that lost half its links to churn dials new ones.
- the listener: `link_up(a, b)` / `link_down(node, gone)` tell the scenario whenever a link opens or closes.

One seeded `random.Random` (`kernel.rng`) draws every choice the kernel and its scenario make, so a seed fixes the
whole run. A scenario that sorts what its cores emit in set order before drawing stays independent of the hash seed.

Adding a scenario (the pulse and research simulations plug in like this): make a module in `pynode/sim/` that keeps
its cores in lists indexed like the kernel's nodes; build a `Mesh` (sim/mesh.py) when the cores talk over GossipSub,
else a bare `Kernel` with your own listener; schedule each node's `tick` with `at`; carry request/response or
direct messages with `send` (sim/state.py carries anti-entropy beside gossip that way); measure in the handlers.
`gossip.py` (dissemination), `state.py` (replicated state) and `diloco.py` (training rounds) are the examples.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any, Protocol

from pynode.sim.link import LinkModel

Handler = Callable[[int, int, Any], None]  # (receiving node, sending node, message)


class Links(Protocol):
    """What a scenario hears about links; its cores learn of peers from here."""

    def link_up(self, a: int, b: int) -> None:
        """`a` dialled `b` (a is the outbound side)."""

    def link_down(self, node: int, gone: int) -> None:
        """`node` lost its link to `gone`."""


class Kernel:
    def __init__(self, seed: int, link: LinkModel, degree: int, listener: Links) -> None:
        self.rng = random.Random(seed)
        self.link = link
        self.degree = degree
        self.listener = listener
        self.now = 0.0
        self.alive: list[bool] = []
        self.links: list[dict[int, float]] = []  # per node: neighbour index -> one-way latency
        self.live: list[int] = []  # live node indices, for O(1) random choice
        self._live_pos: dict[int, int] = {}
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0

    # ---- time ---------------------------------------------------------------------------------------

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, args))

    def run_until(self, end: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= end:
            t, _, fn, args = pop(heap)
            self.now = t
            fn(*args)
        self.now = end

    # ---- membership ---------------------------------------------------------------------------------

    def add(self) -> int:
        """A new node's index. It is up but not yet live: nobody dials it until `join`."""
        self.alive.append(True)
        self.links.append({})
        return len(self.alive) - 1

    def join(self, index: int, dial: int | None = None) -> None:
        """Make `index` live and connect it to `dial` (default: `degree`) random live nodes."""
        targets = self.random_live(self.degree if dial is None else dial, exclude=index)
        self._live_pos[index] = len(self.live)
        self.live.append(index)
        for other in targets:
            self.connect(index, other)

    def leave(self, index: int) -> None:
        self.alive[index] = False
        pos = self._live_pos.pop(index)
        last = self.live.pop()
        if last != index:
            self.live[pos] = last
            self._live_pos[last] = pos
        links = self.links[index]
        for other in list(links):
            del self.links[other][index]
            self.listener.link_down(other, index)
        links.clear()

    def pick_live(self) -> int:
        return self.live[self.rng.randrange(len(self.live))]

    def random_live(self, n: int, exclude: int) -> list[int]:
        """Up to `n` distinct live nodes other than `exclude`."""
        live = self.live
        drawn = self.rng.sample(live, min(n + 1, len(live)))
        return [i for i in drawn if i != exclude][:n]

    # ---- links --------------------------------------------------------------------------------------

    def connect(self, a: int, b: int) -> None:
        links = self.links[a]
        if b in links or a == b or not self.alive[b]:
            return
        links[b] = self.links[b][a] = self.link.latency(self.rng)
        self.listener.link_up(a, b)

    def keep_connected(self, index: int) -> None:
        links = self.links[index]
        if len(links) < self.degree // 2:
            for other in self.random_live(self.degree - len(links), exclude=index):
                self.connect(index, other)

    def send(self, src: int, dst: int, fn: Handler, message: Any) -> None:
        latency = self.links[src].get(dst)
        if latency is None:
            return
        loss = self.link.loss
        if loss and self.rng.random() < loss:
            return
        self._seq += 1
        heapq.heappush(self._heap, (self.now + latency, self._seq, self._arrive, (src, dst, fn, message)))

    def _arrive(self, src: int, dst: int, fn: Handler, message: Any) -> None:
        if self.alive[dst] and src in self.links[dst]:  # else the link went down while it was in flight
            fn(dst, src, message)
