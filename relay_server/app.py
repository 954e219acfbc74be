"""The relay as one Starlette app: `/p2p`, `/api/status`, `/healthz`, `/metrics`, the explorer at `/explore`,
and the web app at `/`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from relay_server import api, explore, gateway, metrics, p2p, points_page, state_api
from relay_server.relay import Relay
from relay_server.static import WebFiles


def create_app(relay: Relay) -> Starlette:
    """Serve `relay` (`app.state.relay`); its embedded node, if any, runs for the server's life."""
    config = relay.config
    routes: list[BaseRoute] = [*p2p.routes(relay), *api.routes(relay), *metrics.routes(relay)]
    routes += [
        *gateway.routes(relay),
        *state_api.routes(relay),
        *explore.routes(relay),
        *points_page.routes(relay),
    ]
    if config.static_dir is not None and config.static_dir.is_dir():
        routes.append(Mount("/", app=WebFiles(directory=config.static_dir, html=True)))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        embedded = relay.embedded
        if embedded is not None:
            await embedded.start()
        await relay.federation.start()
        try:
            yield
        finally:
            await relay.federation.stop()
            if embedded is not None:
                await embedded.stop()
        await relay.shutdown()  # after the embedded node has left, so it does not try to reconnect

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.relay = relay
    return app
