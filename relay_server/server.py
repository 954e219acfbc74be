"""Running the relay under uvicorn, and stopping it cleanly on SIGINT / SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from starlette.applications import Starlette

from relay_server.app import create_app
from relay_server.config import RelayConfig
from relay_server.guard import guarded_protocols
from relay_server.limits import KEEP_ALIVE_S, MAX_HEADER_BYTES, WS_MAX_SIZE
from relay_server.logs import limit_floodable_logs
from relay_server.relay import Relay, open_relay


class RelayServer(uvicorn.Server):
    """uvicorn's server, except that every peer is told `shutting_down` before the sockets close."""

    def __init__(self, config: uvicorn.Config, relay: Relay) -> None:
        super().__init__(config)
        self.relay = relay

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.relay.shutdown()
        await super().shutdown(sockets)

    @property
    def port(self) -> int:
        """The port actually bound (useful with `port=0`); valid once `started`."""
        return self.servers[0].sockets[0].getsockname()[1]


def build_server(config: RelayConfig, app: Starlette) -> RelayServer:
    relay: Relay = app.state.relay
    http, ws = guarded_protocols(
        relay.guard
    )  # fd budget, per-address cap and request deadlines on every socket
    limit_floodable_logs()
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=http,
        ws=ws,
        timeout_keep_alive=KEEP_ALIVE_S,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,  # frames are mostly binary blobs; compression would only cost CPU
        ssl_certfile=config.ssl_certfile,
        ssl_keyfile=config.ssl_keyfile,
        lifespan="on",
        log_level=config.log_level,
        # Forwarded headers only from the proxies the operator named (uvicorn would trust loopback by default,
        # and FORWARDED_ALLOW_IPS from the environment when given None).
        proxy_headers=bool(config.forwarded_allow_ips),
        forwarded_allow_ips=list(config.forwarded_allow_ips),
    )
    return RelayServer(uv_config, relay)


async def serve(config: RelayConfig, app: Starlette | None = None) -> None:
    """Serve the relay `config` describes, with its own node, until SIGINT / SIGTERM (uvicorn re-raises the
    signal once shut down, as a CLI expects)."""
    if app is None:
        app = create_app(await open_relay(config))
    await build_server(config, app).serve()


def run(config: RelayConfig, app: Starlette | None = None) -> None:
    """Blocking entry point for a CLI: serve, and treat Ctrl+C as a normal exit."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, app))


class EmbeddedRelayServer(RelayServer):
    """A relay running inside a larger asyncio program (the demo, tests): it leaves signals to its host."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


class RunningRelay:
    """A relay serving in a background task; `await stop()` shuts it down cleanly."""

    def __init__(self, server: RelayServer, task: asyncio.Task[None]) -> None:
        self.server = server
        self.task = task
        self.relay: Relay = server.relay

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://{self.server.config.host}:{self.port}/p2p"

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await self.task


async def start_relay(config: RelayConfig, embedded_node: bool = True) -> RunningRelay:
    """Start a relay (with its own gossip node unless told otherwise) and return once it accepts connections.

    Raises OSError when the address cannot be bound.
    """
    relay = await open_relay(config, embedded=embedded_node)
    server = EmbeddedRelayServer(build_server(config, create_app(relay)).config, relay)
    # bind here, so a busy port is an OSError for the caller (uvicorn would exit the process)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.create_server((config.host, config.port), family=family, backlog=2048)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the OSError from startup
            raise OSError(f"the relay stopped while starting on {config.host}:{config.port}")
        await asyncio.sleep(0.01)
    return RunningRelay(server, task)
