"""Real research records for the explorer and archive tests: experiments run on the search domain (Cranfield),
concluded, written up and signed exactly as a node's research runtime does it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from pynode.identity import Identity
from pynode.platform import native
from pynode.research import experiment, paper
from pynode.research.agent import Agent, priors, result_body
from pynode.research.registry import domain
from pynode.research.strategy import Bandit
from pynode.state.records import Record, make_record
from pynode.state.store import Store

TASK = "cranfield-ndcg10"


@dataclass(frozen=True)
class Published:
    result: Record
    paper: Record


async def run_experiment(who: Identity, board: list[Record], ts: int, seed: int) -> Published:
    """One turn of the loop for `who`: plan on `board`, run the seeds, conclude, sign the result and paper."""
    d = domain("search")
    agent = Agent(d, TASK, Bandit(random.Random(seed)))
    parents, refused = priors(d, agent.task, board)
    assert not refused
    proposal = agent.plan(parents, set())
    assert proposal is not None
    finding = agent.conclude(proposal, experiment.run(d, TASK, proposal.config), parents)
    result = await make_record(who.signer, "result", result_body(finding), ts)
    title, markdown, figures = paper.write(finding, result.key, who.text)
    body = {
        "title": title,
        "domain": "search",
        "task": TASK,
        "results": [result.key],
        "markdown": markdown,
        "figures": figures,
    }
    return Published(result, await make_record(who.signer, "paper", body, ts + 1))


async def research_run(authors: list[Identity], experiments: int) -> list[Published]:
    """`experiments` turns taken by `authors` in rotation, each reading every earlier result (a lineage)."""
    start = int(time.time() * 1000) - 60_000
    done: list[Published] = []
    for i in range(experiments):
        board = [p.result for p in done]
        done.append(await run_experiment(authors[i % len(authors)], board, start + 10 * i, seed=i))
    return done


async def deliver(
    store: Store, authors: list[Identity], records: list[Record], earlier: list[Record] | None = None
) -> None:
    """Import every author's `records` into `store` the way a replica receives them (validated, policy too).
    `earlier`: what an earlier `deliver` already brought, so each author's update continues its history."""
    for who in authors:
        mine = [r for r in records if r.author == who.peer_id]
        before = [r for r in earlier or [] if r.author == who.peer_id]
        if not mine:
            continue
        author = Store(
            who.peer_id, native
        )  # the author's replica: the same signed changes, in the same order
        if before:
            await author.write(who.signer, before)
        for name, blob in (await author.write(who.signer, mine)).items():
            await store.receive(name, blob, int(time.time() * 1000))
