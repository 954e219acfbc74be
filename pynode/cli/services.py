"""The inference, proxy and API parts of what a node serves (`node` and `demo`): their options and composition.

`serve_extra` hosts inference (unless --no-inference) and the proxy (when --proxy-allow names an upstream) on
the node's services runtime, and the OpenAI-compatible API (`--api HOST:PORT`, node only); it returns a
`Served` that starts, stops and describes them.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from pynode.cli.common import CliError

TOKEN_ENV = "HYPERSPACE_API_TOKEN"


def add_service_options(p: argparse.ArgumentParser, api: bool) -> None:
    g = p.add_argument_group("inference, proxy and the OpenAI-compatible API")
    g.add_argument("--no-inference", action="store_true", help="do not serve the zoo's models to peers")
    g.add_argument(
        "--no-embedding",
        action="store_true",
        help="do not serve sentence embeddings and the memory index (related work) to peers",
    )
    g.add_argument(
        "--proxy-allow",
        action="append",
        default=[],
        metavar="URL_PREFIX",
        help="serve the proxy to peers for URLs under this prefix (repeatable); private addresses only when "
        "the prefix names the address itself, e.g. http://127.0.0.1:8000/v1/",
    )
    g.add_argument(
        "--proxy-bearer-env",
        metavar="NAME",
        default=None,
        help="environment variable holding the bearer token the proxy adds upstream (the operator's key)",
    )
    if api:
        g.add_argument(
            "--api",
            metavar="HOST:PORT",
            default=None,
            help="serve the OpenAI-compatible API (/v1/...) backed by the mesh, e.g. 127.0.0.1:8080",
        )
        g.add_argument(
            "--api-token",
            default=os.environ.get(TOKEN_ENV),
            help=f"bearer token the API requires (default ${TOKEN_ENV}); required off loopback",
        )


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CliError(f"--api takes HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class Served:
    inference: Any
    proxy: Any
    api: Any

    async def start(self) -> None:
        if self.inference is not None:
            await self.inference.start()
        if self.api is not None:
            try:
                await self.api.start()
            except OSError as e:
                raise CliError(
                    f"--api: cannot listen on {self.api.host}:{self.api.requested_port}: {e}"
                ) from None

    async def stop(self) -> None:
        if self.api is not None:
            await self.api.stop()
        if self.inference is not None:
            await self.inference.stop()

    def describe(self) -> str:
        parts = []
        if self.inference is not None:
            parts.append(f"inference ({', '.join(self.inference.model_ids)})")
        if self.proxy is not None:
            parts.append(f"proxy to {', '.join(self.proxy.rules.allow)}")
        if self.api is not None:
            parts.append(f"OpenAI API at {self.api.url}")
        return ", ".join(parts)


def serve_extra(services: Any, replica: Any, args: argparse.Namespace) -> Served:
    """Host inference and the proxy on `services` (before the node starts: the relay hello names them)."""
    from pynode.runtime.inference import InferenceHost

    inference = None if args.no_inference else InferenceHost(services, replica)
    proxy = None
    if args.proxy_allow:
        from pynode.runtime.proxy import ProxyHost

        auth = None
        if args.proxy_bearer_env:
            auth = os.environ.get(args.proxy_bearer_env)
            if not auth:
                raise CliError(f"--proxy-bearer-env: ${args.proxy_bearer_env} is not set")
        try:
            proxy = ProxyHost(services, args.proxy_allow, auth)
        except ValueError as e:
            raise CliError(str(e)) from None
    api = None
    if getattr(args, "api", None):
        from pynode.runtime.api import ApiServer

        host, port = _host_port(args.api)
        try:
            api = ApiServer(services, host, port, args.api_token)
        except ValueError as e:
            raise CliError(str(e)) from None
    return Served(inference, proxy, api)


async def serve_knowledge(services: Any, replica: Any, args: argparse.Namespace, agent: Any) -> Any:
    """Host embedding and memory (unless --no-embedding; before the node starts), and give the research agent
    its related-work lookup (the mesh's memory, this node's or a peer's). Returns a KnowledgeHost or None."""
    from pynode.runtime.memory import host_knowledge, related_work

    if agent is not None:
        agent.config.related = related_work(services, replica.store)
    if args.no_embedding:
        return None
    return await host_knowledge(services, replica.store)
