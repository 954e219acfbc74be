"""Research in a browser tab: the tab's node runs a `ResearchAgent` on its replica, within the tab's CPU share.

app.py owns the node and browser/state.py the replica; this module starts the agent once the replica has
caught up with the board (a fresh tab should not re-run what its peers already published), pauses and
resumes it on the page's request, and puts `research` in the status: the current hypothesis and progress,
the latest research results on the network with their CI and paper, and how long one seed held the worker's
event loop, per domain (a seed is synchronous Python: a tab has no threads).

Worker commands (the reply has the command's type, with `error` when it failed):
  research-pause  {}          stop; an experiment cut short publishes nothing → {research: status}
  research-resume {}          start again → {research: status}
  research-paper  {key}       a paper held by the replica, for the page to render → {paper: {...}}
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pynode.identity import peer_id_text
from pynode.pace import CpuBudget
from pynode.platform import browser
from pynode.research.registry import DOMAIN_MODULES

if TYPE_CHECKING:
    from pynode.runtime.replica import StateReplica
    from pynode.runtime.research import Published, ResearchAgent
    from pynode.state.records import Record

log = logging.getLogger(__name__)
RESULTS_SHOWN = 8  # newest research results in the status the page receives every second
SYNC_WAIT_S = 20.0  # wait this long for a first sync before researching anyway (maybe nobody has state)
# Between seeds a tab's research sleeps at least this long. At a full CPU share the pacing sleep is 0, and a
# zero-delay yield in Pyodide's event loop let research starve the node's timers and the page's messages
# (seen: no status for 20 s, a pause request answered after 19 s); a real timer lets them run.
MIN_YIELD_S = 0.02

# What a tab researches unless the page says otherwise: the domains whose every seed held the worker's event
# loop under 2 s in Pyodide (`python -m bench.research_tab`: the baseline and random configs of each task; on a
# loaded 2-core machine finance's worst seed took 0.7 s). The others can be asked for (`?research=search`,
# `data-research="search"`); while one of their seeds runs, the tab neither gossips nor updates its dashboard.
TAB_DOMAINS = ("finance",)
SLOW_IN_TAB = {  # the worst seed measured in a tab (Pyodide 314, Chromium, the same machine)
    "search": "ranking the 225 queries of one config held the tab 3–7 s",
    "causes": "matching and reweighting the CPS sample held the tab up to 8 s per seed",
    "skills": "enumerating programs for the 110 problems held the tab 8–58 s per seed",
    "ml": "training on onnxruntime-web held the tab 2–19 s per seed (3–6× CPython)",
}

Event = Callable[..., None]


class BrowserResearch:
    def __init__(self) -> None:
        self.domains: tuple[str, ...] = TAB_DOMAINS
        self.share = 0.25
        self.agent: ResearchAgent | None = None
        self.replica: StateReplica | None = None
        self.me = ""  # this tab's peer id, as text
        self.paused = False
        self.state = "off"  # off | waiting (for the board) | running | paused | error
        self.error = ""
        self.event: Event = lambda *args, **kwargs: None
        self._starter: asyncio.Task[None] | None = None
        self._results_for = -1  # record count the cached result rows were computed from
        self._results: list[dict[str, Any]] = []

    def configure(self, domains: Sequence[str] | None, share: float) -> None:
        """`domains`: what the page asked for (None: TAB_DOMAINS; empty: no research in this tab)."""
        wanted = TAB_DOMAINS if domains is None else tuple(dict.fromkeys(str(d) for d in domains))
        unknown = [d for d in wanted if d not in DOMAIN_MODULES]
        if unknown:
            raise ValueError(f"no research domain {', '.join(unknown)} (known: {', '.join(DOMAIN_MODULES)})")
        self.domains = wanted
        self.share = share

    # ---- the node's life ------------------------------------------------------------------------------

    async def attach(self, replica: StateReplica | None, event: Event) -> None:
        """Research on `replica` (the same agent across a Leave and a Join: its recent results stay)."""
        self.event = event
        self.replica = replica
        if replica is not None:
            self.me = peer_id_text(replica.store.author)
        if replica is None or not self.domains:
            self.state = "off"
            return
        try:
            if self.agent is None:
                # imported here, after the tab joined: the agent and its domains are a third of our modules
                from pynode.runtime.research import ResearchAgent, ResearchConfig

                config = ResearchConfig(
                    domains=self.domains, cpu_share=self.share, on_published=self._published
                )
                self.agent = ResearchAgent(replica, config)
                self.agent.budget = CpuBudget(self.share, sleep=_yield)
            else:
                self.agent.replica = replica
        except Exception as e:  # a domain that cannot load in this tab: the node runs on without research
            log.exception("no research in this tab")
            self._fail(f"research could not start: {e}")
            return
        if self.paused:
            self.state = "paused"
        else:
            self._starter = asyncio.ensure_future(self._start_when_synced(replica))

    async def detach(self) -> None:
        await self._stop()
        self.replica = None
        if self.state != "error":
            self.state = "off"

    async def _start_when_synced(self, replica: StateReplica) -> None:
        self.state = "waiting"
        deadline = time.monotonic() + SYNC_WAIT_S
        while replica.status()["sync"] == "cold" and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert self.agent is not None
        await self.agent.start()
        self.state = "running"
        self.event("info", f"researching {', '.join(self.domains)} at {round(self.share * 100)}% of a CPU")

    async def _stop(self) -> None:
        starter, self._starter = self._starter, None
        if starter is not None:
            starter.cancel()
            await asyncio.gather(starter, return_exceptions=True)
        if self.agent is not None:
            await self.agent.stop()

    async def pause(self) -> None:
        self.paused = True
        await self._stop()
        if self.agent is not None:
            self.state = "paused"
            self.agent.progress.task = ""  # the experiment cut short is gone: nothing of it is published

    async def resume(self) -> None:
        self.paused = False
        if self.replica is not None and self.agent is not None and self._starter is None:
            self._starter = asyncio.ensure_future(self._start_when_synced(self.replica))

    def _published(self, p: Published) -> None:
        from pynode.research.agent import decimal_text

        f = p.finding
        mark = " — an improvement on the best" if f.improvement else ""
        self.event(
            "info",
            f"published {f.task.id}: {f.task.metric} {decimal_text(f.mean, 4)} ± {decimal_text(f.ci95, 3)} "
            f"{f.task.unit} (n = {len(f.samples)}){mark}, with its paper",
        )

    def _fail(self, message: str) -> None:
        self.state, self.error = "error", message
        self.event("error", message)

    # ---- status ---------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "state": self.state,
            "domains": list(self.domains),
            "slow_in_tab": {d: why for d, why in SLOW_IN_TAB.items() if d not in self.domains},
            "cpu_share": self.share,
            "experiments": 0,
            "current": None,
            "seed_s": {},
            "results": self._latest_results(),
        }
        if self.error:
            st["error"] = self.error
        if self.agent is not None:
            a = self.agent.status()
            st.update(experiments=a["experiments"], current=a["current"], seed_s=a["seed_s"])
            st["refused"] = a["refused"]
        return st

    def _latest_results(self) -> list[dict[str, Any]]:
        """The newest research results in the replica (anyone's), each with its author's paper if one is held."""
        replica = self.replica
        if replica is None:
            return self._annotate(self._results)
        store = replica.store
        count = sum(store.counts().values())
        if count == self._results_for:
            return self._annotate(self._results)
        from pynode.state.records import DOMAINS  # loaded with the replica, after the tab joined

        records = [r for d in DOMAINS for r in store.all_records(f"results.{d}") if "samples" in r.body]
        records.sort(key=lambda r: (r.ts, r.key), reverse=True)
        papers: dict[tuple[str, bytes], Record] = {}  # (result key, its author) → the author's paper on it
        for paper in store.all_records("papers"):
            for key in paper.body["results"]:
                known = papers.get((key, paper.author))
                if known is None or (paper.ts, paper.key) < (known.ts, known.key):
                    papers[(key, paper.author)] = paper
        self._results = [_row(r, papers.get((r.key, r.author))) for r in records[:RESULTS_SHOWN]]
        self._results_for = count
        return self._annotate(self._results)

    def _annotate(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mark this tab's results, and which of them improved on the best (only the author knows at once)."""
        mine = {s["result"]: s["improvement"] for s in self.agent.recent} if self.agent else {}
        return [{**r, "mine": r["author"] == self.me, "improvement": mine.get(r["key"])} for r in rows]

    # ---- commands -------------------------------------------------------------------------------------

    async def command(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        if kind == "research-pause":
            await self.pause()
            return {"research": self.status()}
        if kind == "research-resume":
            await self.resume()
            return {"research": self.status()}
        if kind == "research-paper":
            if self.replica is None:
                return {"error": "not joined"}
            paper = self.replica.store.records["papers"].get(str(args.get("key", "")))
            if paper is None:
                return {"error": "this tab holds no such paper"}
            return {
                "paper": {
                    "key": paper.key,
                    "author": peer_id_text(paper.author),
                    "ts": paper.ts,
                    **paper.body,
                }
            }
        return {"error": f"unknown command {kind}"}


async def _yield(seconds: float) -> None:
    await asyncio.sleep(max(MIN_YIELD_S, seconds))


def _row(r: Record, paper: Record | None) -> dict[str, Any]:
    b = r.body
    row = {
        "key": r.key,
        "author": peer_id_text(r.author),
        "ts": r.ts,
        "paper": paper.key if paper is not None else None,
        "hypothesis": b.get("hypothesis", ""),
    }
    for name in ("domain", "task", "metric", "unit", "direction", "value", "seeds"):
        row[name] = b[name]
    for name in ("ci95", "p_value", "heldout", "inspired_by", "baseline"):
        row[name] = b.get(name)
    return row


research = BrowserResearch()
COMMANDS = ("research-pause", "research-resume", "research-paper")


async def run_command(kind: str, args: dict[str, Any]) -> None:
    """Run a research command from the page and post its reply (its type, with `error` when it failed)."""
    try:
        reply = await research.command(kind, args)
    except Exception as e:
        log.exception("%s failed", kind)
        reply = {"error": f"{type(e).__name__}: {e}"}
    browser.post({"type": kind, **reply})
