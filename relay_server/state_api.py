"""`GET /api/state`: the relay replica's sync status, record counts and leaderboards (for the dashboard);
`GET /api/reviews`: each reviewed result's reviews, the breakthroughs and reviewer weights (docs/REVIEW.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pynode.review.breakthroughs import ProofCache, analyse
from pynode.review.summary import summary_json
from pynode.state.records import DOMAINS
from pynode.state.views import boards_json
from relay_server.limits import REVIEW_MAX_ROWS, STATE_MAX_ROWS

if TYPE_CHECKING:
    from relay_server.relay import Relay


def routes(relay: Relay) -> list[BaseRoute]:
    async def state(_request: Request) -> Response:
        replica = relay.replica
        if replica is None:
            return JSONResponse(
                {"error": "no_state", "detail": "this relay holds no replica"}, status_code=503
            )
        body = {
            "status": replica.status(),
            "leaderboards": boards_json(replica.leaderboards(), STATE_MAX_ROWS),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    proofs = ProofCache()  # each review's VRF proof is verified once, however often the page polls

    async def reviews(_request: Request) -> Response:
        replica = relay.replica
        if replica is None:
            return JSONResponse(
                {"error": "no_state", "detail": "this relay holds no replica"}, status_code=503
            )
        store = replica.store
        view = analyse(
            [r for d in DOMAINS for r in store.all_records(f"results.{d}")],
            store.all_records("reviews"),
            store.all_records("identities"),
            int(time.time() * 1000),
            proofs,
        )
        return JSONResponse(summary_json(view, REVIEW_MAX_ROWS), headers={"Cache-Control": "no-store"})

    return [Route("/api/state", state), Route("/api/reviews", reviews)]
