"""The ceiling for `hyperspace bench relay`: a plain Starlette WebSocket echo server under uvicorn.

Same server stack and WebSocket settings as the relay (relay_server/server.py: the websockets sans-I/O protocol,
no per-message deflate, the same message size cap), and nothing else: no hello, no parsing, no routing, no
limits. Each binary message goes straight back to its sender.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from relay_server.limits import WS_MAX_SIZE


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_bytes(await ws.receive_bytes())
    except WebSocketDisconnect:
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    app = Starlette(routes=[WebSocketRoute("/p2p", echo)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,
        log_level="warning",
        backlog=2048,
    )


if __name__ == "__main__":
    main()
