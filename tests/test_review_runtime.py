"""The validator runtime on real stores: it announces itself, re-executes what it is drawn for, publishes."""

from __future__ import annotations

import time
from typing import Any

from pynode.browser.review import BrowserReview
from pynode.identity import Identity
from pynode.platform import native
from pynode.research.search import DOMAIN as SEARCH
from pynode.review.params import SETTLE_MS
from pynode.review.policy import check_record
from pynode.review.reexecute import Artifacts, record_artifacts
from pynode.runtime.review import ReviewAgent, ReviewConfig
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from tests.review_world import TASK, Network, identity, profile, result


class Replica:
    """A replica without a network: our store, and publishing into it (records reach others by `Network`)."""

    def __init__(self, who: Identity, net: Network) -> None:
        self.who = who
        self.net = net
        self.store = Store(who.peer_id, native, policy=check_record)

    async def publish(self, kind: str, body: dict[str, Any]) -> Record:
        record = await make_record(self.who.signer, kind, body, int(time.time() * 1000))
        await self.store.write(self.who.signer, [record])
        self.net.publish(self.who, record)
        return record


async def test_a_validator_reviews_what_it_is_drawn_for_and_shows_it():
    net = Network()
    me, author = identity(), identity()
    others = [identity() for _ in range(3)]  # four validators ≤ k: everyone is drawn
    replica = Replica(me, net)
    in_flight: list[dict[str, Any]] = []

    async def fetch(result: Record) -> Artifacts | None:  # the queue as the dashboard sees it mid-review
        in_flight.append(agent.status())
        return record_artifacts(result)

    agent = ReviewAgent(replica, me, ReviewConfig(cpu_share=1.0, artifacts=fetch))
    assert (await agent.ensure_profile()).body["caps"] == ["validation"]
    assert await agent.ensure_profile() is None  # once is enough
    now = int(time.time() * 1000)
    for v in others:
        net.publish(v, profile(v, ts=now - 120_000))
    cfg = SEARCH.validate(TASK.id, SEARCH.baseline(TASK.id))
    samples = [SEARCH.evaluate(TASK.id, cfg, seed).value for seed in range(3)]
    target = result(author, samples, now - SETTLE_MS - 1000)
    net.publish(author, target)
    net.deliver(replica.store, now)
    assert await agent.run_once() == []  # our profile is younger than the result's window
    net.publish(me, profile(me, ts=now - 120_000))  # as if we had announced ourselves before it
    net.deliver(replica.store, now)
    (review,) = await agent.run_once()
    check_record(review)
    assert (review.body["target"], review.body["verdict"]) == (target.key, "reproduced")
    assert review.body["measured"] == target.body["value"]
    board = agent.board()
    (row,) = [r for r in board["results"] if r["result"] == target.key]
    assert [(r["reviewer"], r["proof_verified"]) for r in row["reviews"]] == [(me.text, True)]
    assert board["reviewed"] == 1 and board["recent"][0]["verdict"] == "reproduced"
    ((seen,),) = [s["queued"] for s in in_flight]
    assert (seen["result"], seen["epoch"], in_flight[0]["current"]) == (
        target.key,
        review.body["epoch"],
        target.key,
    )
    assert agent.status()["queued"] == [] and agent.status()["current"] is None

    # a tab that researches nothing validates nothing, and shows the network's reviews with their tickets ✓
    tab = BrowserReview()
    await tab.attach(Replica(author, net), author, (), 0.5, (), lambda *a, **k: None)
    net.deliver(tab.agent.replica.store, now)
    shown = tab.status()
    assert shown["state"] == "viewing" and shown["queued"] == []
    ((row,),) = [[r for r in x["reviews"]] for x in shown["results"] if x["result"] == target.key]
    assert (row["reviewer"], row["verdict"], row["proof_verified"], row["counted"]) == (
        me.text,
        "reproduced",
        True,
        True,
    )
    assert set(row["subscores"]) == {"reproduction", "effect", "strength", "novelty", "completeness"}
    assert "comment" not in row
    await tab.detach()
