"""The relay server: signaling and circuit relay for nodes, the web app, status and metrics."""

from relay_server.app import create_app
from relay_server.config import RelayConfig
from relay_server.hub import Hub, LocalHandle
from relay_server.relay import Relay, open_relay
from relay_server.server import RelayServer, build_server, run, serve

__all__ = [
    "Hub",
    "LocalHandle",
    "Relay",
    "RelayConfig",
    "RelayServer",
    "build_server",
    "create_app",
    "open_relay",
    "run",
    "serve",
]
