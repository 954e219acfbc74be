"""`GET /api/state`: the relay replica's sync status, record counts and leaderboards (for the dashboard)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pynode.state.views import boards_json

MAX_ROWS = 50  # per board


def routes(relay: Any) -> list[BaseRoute]:
    async def state(_request: Request) -> Response:
        replica = relay.state
        if replica is None:
            return JSONResponse(
                {"error": "no_state", "detail": "this relay holds no replica"}, status_code=503
            )
        body = {"status": replica.status(), "leaderboards": boards_json(replica.leaderboards(), MAX_ROWS)}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return [Route("/api/state", state)]
