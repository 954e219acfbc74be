"""`/api/status` (what the dashboard shows) and `/healthz` (what a load balancer probes)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from pynode import __version__
from pynode.identity import peer_id_text
from relay_server.limits import STATUS_MAX_PEERS
from relay_server.relay import Relay


def routes(relay: Relay) -> list[BaseRoute]:
    async def status(_request: Request) -> Response:
        return JSONResponse(status_body(relay), headers={"Cache-Control": "no-store"})

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})

    async def relays(_request: Request) -> Response:
        # The federation's relays, for nodes and tabs to fail over to (PROTOCOL.md §2.10)
        return JSONResponse(
            {"relays": relay.federation.relay_urls()},
            headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"},
        )

    return [Route("/api/status", status), Route("/healthz", healthz), Route("/api/relays", relays)]


def status_body(relay: Relay) -> dict[str, Any]:
    now = time.monotonic()
    clients = relay.hub.clients
    stats = relay.stats
    kinds = Counter(c.kind for c in clients)
    body: dict[str, Any] = {
        "relay": relay.identity.text,
        "version": __version__,
        "uptime_s": round(relay.uptime_s(), 3),
        "peers": [
            {
                "peer": peer_id_text(c.peer),
                "caps": list(c.caps),
                "kind": c.kind,
                "connected_s": round(now - c.connected_at, 3),
                "frames_in": c.frames_in,
                "frames_out": c.frames_out,
            }
            for c in reversed(clients[-STATUS_MAX_PEERS:])
        ],
        "counts": {
            "peers": len(clients),
            "websocket": kinds["websocket"],
            "local": kinds["local"],
            "frames_in": stats.frames_in,
            "frames_out": stats.frames_out,
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "rejections": dict(stats.rejections),
        },
    }
    body["federation"] = relay.federation.status()
    if relay.embedded is not None:
        body["extra"] = relay.embedded.status()
    return body
