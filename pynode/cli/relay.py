"""`hyperspace relay`: the relay server, and the archive options it shares with `demo`."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynode.cli.common import DEFAULT_DATA, DEFAULT_PORT, CliError, port, positive, run

if TYPE_CHECKING:
    from relay_server.config import RelayConfig


def add_relay(sub: Any) -> None:
    r = sub.add_parser(
        "relay",
        help="run a relay server (signaling, circuit relay, web app, status API)",
        description="Run a relay: WebSocket /p2p for nodes, the web app at /, /api/status, /metrics, "
        "/healthz. On a VPS use --host 0.0.0.0 with --ssl-certfile/--ssl-keyfile, or run behind a "
        "TLS proxy (browsers need HTTPS for WebCrypto).",
    )
    r.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    r.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    r.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA / "relay", help="keeps the relay's identity key"
    )
    r.add_argument("--ssl-certfile", type=Path, help="TLS certificate (PEM) to serve HTTPS/WSS")
    r.add_argument("--ssl-keyfile", type=Path, help="TLS private key (PEM)")
    r.add_argument(
        "--max-conns-per-ip", type=positive, default=64, help="sockets per client IP, HTTP and WebSocket (64)"
    )
    r.add_argument(
        "--max-open-connections",
        type=positive,
        help="sockets open at once; beyond it newcomers get 503 (default: the descriptor limit less 128)",
    )
    r.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds for a request's line and headers to arrive; slower ones are cut off (default 10)",
    )
    r.add_argument(
        "--forwarded-allow-ips",
        type=ip_list,
        default=(),
        help="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed "
        "(default: none; the client address is the socket's)",
    )
    r.add_argument(
        "--presence-interval",
        type=float,
        default=90.0,
        help="seconds between the pulse rounds the relay's node takes part in; the network's (default 90)",
    )
    r.add_argument(
        "--peer-relay",
        action="append",
        default=[],
        metavar="URL",
        help="another relay's /p2p URL (ws:// or wss://) to federate with; repeatable",
    )
    r.add_argument(
        "--peer-relays",
        type=Path,
        metavar="FILE",
        help="a bootstrap list of peer relay URLs, one per line (# starts a comment)",
    )
    r.add_argument(
        "--public-url",
        default="",
        metavar="URL",
        help="this relay's own /p2p URL as others reach it (e.g. wss://relay.example.org/p2p): named in its "
        "directory and /api/relays so relays and nodes can fail over to it",
    )
    r.add_argument(
        "--peer-frames-per-s",
        type=positive,
        default=200,
        metavar="N",
        help="frames per second each connected peer may send, burst twice that (default 200); a peer over it "
        "is disconnected",
    )
    r.add_argument(
        "--peer-mib-per-s",
        type=positive,
        default=4,
        metavar="N",
        help="MiB per second each connected peer may send, burst twice that (default 4)",
    )
    r.add_argument(
        "--check",
        action="store_true",
        help="check the configuration (certificates readable, port free, peer relays reachable, archive remote "
        "writable), print what was found and exit: 0 when all is well, 1 otherwise",
    )
    add_archive_args(r)
    r.set_defaults(func=cmd_relay)


def peer_relay_urls(args: argparse.Namespace) -> tuple[str, ...]:
    urls = list(args.peer_relay)
    if args.peer_relays is not None:
        try:
            text = args.peer_relays.read_text()
        except OSError as e:
            raise CliError(f"cannot read --peer-relays {args.peer_relays}: {e.strerror or e}") from None
        urls += [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return tuple(u for u in urls if u)


def add_archive_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--archive-remote",
        help="Git remote the archive is pushed to (e.g. https://github.com/ORG/REPO.git); "
        "default: commit to a local repository under the data dir only",
    )
    p.add_argument("--archive-interval", type=float, default=300.0, help="seconds between archive cycles")
    p.add_argument(
        "--archive-token-env",
        default="HYPERSPACE_ARCHIVE_TOKEN",
        help="environment variable holding the remote's token (passed to git per call, never stored)",
    )
    p.add_argument("--no-archive", action="store_true", help="do not archive at all")


def cmd_relay(args: argparse.Namespace) -> int:
    from pynode.wire.limits import MAX_RELAY_FRAME_BYTES
    from relay_server.config import MiB, RelayConfig

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise CliError("--ssl-certfile and --ssl-keyfile go together")
    for f in (args.ssl_certfile, args.ssl_keyfile):
        if f and not f.is_file() and not args.check:
            raise CliError(f"no such file: {f}")
    try:
        config = RelayConfig(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            ssl_certfile=str(args.ssl_certfile) if args.ssl_certfile else None,
            ssl_keyfile=str(args.ssl_keyfile) if args.ssl_keyfile else None,
            max_connections_per_ip=args.max_conns_per_ip,
            frames_per_s=float(args.peer_frames_per_s),
            frames_burst=2 * args.peer_frames_per_s,
            bytes_per_s=float(args.peer_mib_per_s * MiB),
            bytes_burst=max(MAX_RELAY_FRAME_BYTES, 2 * args.peer_mib_per_s * MiB),
            forwarded_allow_ips=args.forwarded_allow_ips,
            max_open_connections=args.max_open_connections,
            header_timeout_s=args.header_timeout,
            presence_interval_s=args.presence_interval,
            peer_relays=peer_relay_urls(args),
            public_url=args.public_url,
            **archive_config(args),
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    if args.check:
        return run(_check(config))
    scheme = "https" if args.ssl_certfile else "http"
    print(f"relay on {scheme}://{_display_host(args.host)}:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    print_archive(config)
    for url in config.peer_relays:
        print(f"  federating with {url}", file=sys.stderr)
    return run(_serve(config))


async def _check(config: RelayConfig) -> int:
    from relay_server.check import check_relay

    findings = await check_relay(config)
    for finding in findings:
        print(finding.line())
    failed = sum(not f.ok for f in findings)
    print(f"{failed} problem(s) found" if failed else "the relay can start", file=sys.stderr)
    return 1 if failed else 0


async def _serve(config: RelayConfig) -> int:
    from relay_server.server import start_relay

    try:
        relay = await start_relay(config)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot start the relay on {config.host}:{config.port}: {e}") from None
    try:
        # Shielded: Ctrl-C / SIGTERM cancel this coroutine, and `stop` then shuts the server down in order
        # (peers told, the embedded node's final archive cycle) instead of the cancel tearing through it.
        await asyncio.shield(relay.task)
    finally:
        await relay.stop()
    return 0


def archive_config(args: argparse.Namespace) -> dict[str, Any]:
    """The RelayConfig fields that `add_archive_args` set."""
    if args.archive_interval <= 0:
        raise CliError("--archive-interval must be positive")
    return {
        "archive": not args.no_archive,
        "archive_remote": args.archive_remote,
        "archive_interval_s": args.archive_interval,
        "archive_token_env": args.archive_token_env,
    }


def print_archive(config: RelayConfig) -> None:
    if not config.archive:
        print("  archive: off", file=sys.stderr)
        return
    where = config.archive_path().resolve() / "repo"
    push = f", pushed to {config.archive_remote}" if config.archive_remote else " (no remote: local commits)"
    print(f"  archive: {where} every {config.archive_interval_s:g} s{push}", file=sys.stderr)


def ip_list(text: str) -> tuple[str, ...]:
    nets = tuple(item.strip() for item in text.split(",") if item.strip())
    for net in nets:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{net!r} is not an IP address or network") from None
    return nets


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host
