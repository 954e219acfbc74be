"""Review in a browser tab: the tab validates the domains it researches and shows the network's reviews.

app.py owns the node and browser/state.py the replica; this module attaches a `ReviewAgent` to the replica
(docs/REVIEW.md) and puts `review` in the status the page receives every second: the newest reviewed results,
each with its reviews (verdict, score, sub-scores, reviewer, whether the VRF ticket verified and was drawn ✓,
whether it counted), the breakthroughs, and this tab's own queue (what it was drawn for and is re-executing)
with its recent reviews.

A tab re-executes only the domains it researches (pynode.browser.research.TAB_DOMAINS unless the page says
otherwise: their seeds hold the worker well under a second each), at the research share. A tab researching
nothing validates nothing and only shows the view. The view is the same pure function of records every node
computes (pynode.review.breakthroughs), recomputed at most every VIEW_S with each proof verified once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pynode.identity import peer_id_text
from pynode.review.summary import standing_json
from pynode.runtime.review import ReviewAgent, ReviewConfig

if TYPE_CHECKING:
    from pynode.identity import Identity
    from pynode.runtime.replica import StateReplica

log = logging.getLogger(__name__)
RESULTS_SHOWN = 8  # reviewed results in the status (newest first)
BREAKTHROUGHS_SHOWN = 10  # newest breakthroughs in the status

Event = Callable[..., None]


class BrowserReview:
    def __init__(self) -> None:
        self.agent: ReviewAgent | None = None
        self.validating = False
        self.domains: tuple[str, ...] = ()
        self.error = ""

    async def attach(
        self,
        replica: StateReplica | None,
        identity: Identity,
        domains: Sequence[str],
        share: float,
        caps: Sequence[str],
        event: Event,
    ) -> None:
        """Validate `domains` (none: only show the view) on `replica`; call after `node.start()`."""
        if replica is None or identity.vrf is None:
            self.error = "no replicated state in this tab: no reviews"
            return
        self.domains = tuple(domains)
        try:
            config = ReviewConfig(domains=self.domains, cpu_share=share, caps=tuple(caps), name="tab")
            self.agent = ReviewAgent(replica, identity, config)
            if self.domains:
                await self.agent.start()
                self.validating = True
                event("info", f"validating {', '.join(self.domains)}: reviewing what this tab is drawn for")
        except Exception as e:
            log.exception("no review in this tab")
            self.error = f"review could not start: {e}"
            self.agent = None
            event("error", self.error)

    async def detach(self) -> None:
        if self.agent is not None:
            agent, self.agent = self.agent, None
            self.validating = False
            await agent.stop()

    def status(self) -> dict[str, Any]:
        if self.agent is None:
            return {"state": "off", "error": self.error} if self.error else {"state": "off"}
        view = self.agent.analysis()
        newest = sorted(
            (s for s in view.standings.values() if s.rows),
            key=lambda s: (s.result.ts, s.result.key),
            reverse=True,
        )
        broke = view.breakthroughs()[-BREAKTHROUGHS_SHOWN:][::-1]
        return {
            "state": "validating" if self.validating else "viewing",
            "domains": list(self.domains),
            "me": peer_id_text(self.identity_id),
            "results": [_compact(standing_json(s, view)) for s in newest[:RESULTS_SHOWN]],
            "breakthroughs": [_compact(standing_json(s, view)) for s in broke],
            **self.agent.status(),
        }

    @property
    def identity_id(self) -> bytes:
        assert self.agent is not None
        return self.agent.identity.peer_id


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """A standing for the page: the reviews without their comments (the page shows numbers, not prose)."""
    return {**row, "reviews": [{k: v for k, v in r.items() if k != "comment"} for r in row["reviews"]]}


review = BrowserReview()
