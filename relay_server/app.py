"""The relay as one Starlette app: `/p2p`, `/api/status`, `/healthz`, `/metrics`, and the web app at `/`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from pynode.identity import Identity
from relay_server import api, gateway, metrics, p2p, state_api
from relay_server.config import RelayConfig
from relay_server.relay import Relay
from relay_server.static import WebFiles

Lifespan = Callable[[Relay], AbstractAsyncContextManager[None]]


def create_app(
    config: RelayConfig, *, identity: Identity | None = None, lifespan: Lifespan | None = None
) -> Starlette:
    """Build the relay app; `app.state.relay` is its `Relay`.

    `lifespan(relay)` runs around the server's life, with the hub ready: the place to start an embedded node
    (`relay.hub.attach_local(...)`) and to set `relay.status_extra` / `relay.node_rejections`.
    """
    relay = Relay(config, identity)
    routes: list[BaseRoute] = [*p2p.routes(relay), *api.routes(relay), *metrics.routes(relay)]
    routes += [*gateway.routes(relay), *state_api.routes(relay)]
    if config.static_dir is not None and config.static_dir.is_dir():
        routes.append(Mount("/", app=WebFiles(directory=config.static_dir, html=True)))

    @contextlib.asynccontextmanager
    async def app_lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with lifespan(relay) if lifespan is not None else contextlib.nullcontext():
            yield
        await relay.shutdown()  # after the embedded node has left, so it does not try to reconnect

    app = Starlette(routes=routes, lifespan=app_lifespan)
    app.state.relay = relay
    return app
