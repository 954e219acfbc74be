"""`/explore/points`: the network's points ledger as this relay's node computes it — every node that took part
in certified pulse rounds, ranked (docs/POINTS.md). Read-only, no script, everything escaped (peer ids and
numbers only, but they come from peers' records all the same). Anyone can recompute it:
`hyperspace points --relay URL --verify`.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_server.explore import page
from relay_server.limits import EXPLORE_MAX_ROWS

if TYPE_CHECKING:
    from relay_server.relay import Relay


def routes(relay: Relay) -> list[BaseRoute]:
    async def points(_request: Request) -> Response:
        embedded = relay.embedded
        pulse = embedded.pulse if embedded is not None else None
        crumbs = "points"
        if pulse is None:
            body = "<h1>Points</h1><p>This relay's node takes no part in pulse rounds.</p>"
            return page("Points", body, relay.identity.text, crumbs, status=503)
        status, top = pulse.status(), pulse.top(EXPLORE_MAX_ROWS)
        last = status["last_round"]
        parts = [
            "<h1>Points</h1>",
            f"<p>{status['nodes']} nodes in the certified rounds this relay holds; the last certified round is "
            f"{escape(str(last)) if last is not None else '—'}"
            f"{' naming ' + str(status['last_participants']) + ' nodes' if last is not None else ''}. Rounds every "
            f"{escape(str(status['interval_s']))} s. Recompute it yourself: "
            "<code>hyperspace points --relay URL --verify</code> (docs/POINTS.md).</p>",
        ]
        if not top:
            parts.append('<p class="muted">No certified rounds yet.</p>')
        else:
            head = "".join(
                f'<th{" class=r" if r else ""}>{h}</th>'
                for h, r in (("rank", 1), ("node", 0), ("points", 1), ("rounds", 1), ("last round", 1),
                             ("uptime ×", 1), ("strikes", 1), ("group", 0))
            )  # fmt: skip
            rows = [
                f'<tr><td class="r">{n["rank"]}</td><td><code title="{escape(n["peer"])}">{escape(n["peer"][:16])}'
                f'</code></td><td class="r">{escape(n["points"])}</td><td class="r">{n["rounds"]}</td>'
                f'<td class="r">{n["last_round"]}</td><td class="r">{escape(n["uptime_factor"])}</td>'
                f'<td class="r">{n["strikes"]}</td><td><code>{escape(n["group"][:16])}</code></td></tr>'
                for n in top
            ]
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        return page("Points", "".join(parts), relay.identity.text, crumbs)

    return [Route("/explore/points", points)]
