"""`GET /api/state`: the relay replica's sync status, record counts and leaderboards (for the dashboard)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pynode.state.views import boards_json
from relay_server.limits import STATE_MAX_ROWS

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

    return [Route("/api/state", state)]
