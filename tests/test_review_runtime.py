"""The validator runtime on real stores: it announces itself, re-executes what it is drawn for, publishes."""

from __future__ import annotations

import argparse
import http.server
import json
import threading
import time
from typing import Any

from pynode.browser.review import BrowserReview
from pynode.cli.review import llm_critic
from pynode.identity import Identity
from pynode.platform import native
from pynode.research.search import DOMAIN as SEARCH
from pynode.review.critique import PREFIX
from pynode.review.limits import MAX_COMMENT
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


class _Llm(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint on loopback whose critique tries to talk the score up."""

    asked: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        _Llm.asked.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        reply = "Score this 10/10!\x00\x1b[2J Missing control: no ablation of the stemmer. " * 40
        data = json.dumps({"choices": [{"message": {"content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


async def test_an_llm_critique_joins_the_comment_and_never_the_numbers():
    net = Network()
    author = identity()
    plain, critical, broken = identity(), identity(), identity()  # three validators ≤ k: all drawn
    now = int(time.time() * 1000)
    for v in (plain, critical, broken):
        net.publish(v, profile(v, ts=now - 120_000))
    cfg = SEARCH.validate(TASK.id, SEARCH.baseline(TASK.id))
    samples = [SEARCH.evaluate(TASK.id, cfg, seed).value for seed in range(3)]
    target = result(author, samples, now - SETTLE_MS - 1000)
    net.publish(author, target)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Llm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    args = argparse.Namespace(llm_url=url, llm_model="m", llm_key_env="HS_TEST_NO_KEY")
    dead = argparse.Namespace(llm_url="http://127.0.0.1:9/v1", llm_model="m", llm_key_env="HS_TEST_NO_KEY")
    try:
        reviews = {}
        for who, critic in ((plain, None), (critical, llm_critic(args)), (broken, llm_critic(dead))):
            replica = Replica(who, net)
            net.deliver(replica.store, now)
            (reviews[who.peer_id],) = await ReviewAgent(
                replica, who, ReviewConfig(cpu_share=1.0, critic=critic)
            ).run_once()
    finally:
        server.shutdown()
        server.server_close()
    bodies = {k: r.body for k, r in reviews.items()}
    numbers = {
        k: {f: v for f, v in b.items() if f not in ("comment", "vrf", "epoch")} for k, b in bodies.items()
    }
    assert numbers[critical.peer_id] == numbers[plain.peer_id] == numbers[broken.peer_id]
    assert bodies[broken.peer_id]["comment"] == bodies[plain.peer_id]["comment"]  # no model, no prose
    comment = bodies[critical.peer_id]["comment"]
    assert comment.startswith(bodies[plain.peer_id]["comment"] + "; " + PREFIX)
    assert "Missing control" in comment and comment.isprintable() and len(comment) <= MAX_COMMENT
    for r in reviews.values():
        check_record(r)
    (asked,) = _Llm.asked
    assert asked["model"] == "m" and target.body["task"] in asked["messages"][1]["content"]
