"""Everything an operator can set on a relay, with defaults that suit a small public relay."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from pynode.net.limits import MAX_RELAY_URL_LEN
from pynode.wire.limits import MAX_RELAY_FRAME_BYTES

MiB = 1024 * 1024
_WEB = Path(__file__).resolve().parent.parent / "web"


def default_static_dir() -> Path:
    """The built web app (`web/dist`) when there is one, else the plain `web/` folder."""
    return _WEB / "dist" if (_WEB / "dist").is_dir() else _WEB


@dataclass
class RelayConfig:
    host: str = "127.0.0.1"
    port: int = 8787  # 0 picks a free port
    data_dir: Path = Path("data/relay")  # holds the relay's identity key
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    static_dir: Path | None = field(default_factory=default_static_dir)  # None: serve no web app
    max_peers: int = 10_000
    max_connections_per_ip: int = 64
    # Token buckets per connected peer; a burst must hold at least one maximal frame.
    frames_per_s: float = 200.0
    frames_burst: int = 400
    bytes_per_s: float = 4 * MiB
    bytes_burst: int = 8 * MiB
    # A peer over its rate is throttled (its socket is not read until the buckets refill); one that stays over
    # for this long is cut off. Throttling first, because the relay meters frames when it reads them: after a
    # stall of its own, frames a paced node sent over seconds arrive at once.
    rate_limit_after_s: float = 30.0
    # Per-client send queue: a consumer this far behind is dropped rather than slowing the hub.
    send_queue_frames: int = 1024
    send_queue_bytes: int = 16 * MiB
    hello_timeout_s: float = 10.0
    # Slowloris: a request's line and headers must arrive within header_timeout_s, the whole request within
    # request_timeout_s; at most max_open_connections sockets at once (None: the descriptor limit less a reserve).
    header_timeout_s: float = 10.0
    request_timeout_s: float = 60.0
    max_open_connections: int | None = None
    # Proxies (addresses or networks) whose X-Forwarded-For / -Proto a client's address is taken from. None by
    # default: anyone can write the header, so trusting it (uvicorn trusts loopback) lets one client pass as many.
    forwarded_allow_ips: tuple[str, ...] = ()
    log_level: str = "info"
    # The Git archive (docs/ARCHIVE.md): on by default, into a local repository under the data dir.
    archive: bool = True
    archive_dir: Path | None = None  # default: <data_dir>/archive
    archive_remote: str | None = None  # push here (e.g. an https GitHub URL); None = local commits only
    archive_interval_s: float = 300.0
    archive_token_env: str = "HYPERSPACE_ARCHIVE_TOKEN"  # the variable holding the remote's token
    archive_quota_bytes: int = 64 * MiB  # per node, everything it ever submitted through the gateway
    # Identities are free: the gateway's queue as a whole, and each client address, get budgets too (what waits
    # for the next commit; a commit frees them).
    archive_queue_bytes: int = 256 * MiB
    archive_queue_entries: int = 2048
    archive_origin_bytes: int = 32 * MiB
    archive_origin_entries: int = 64
    presence_interval_s: float = 90.0  # the pulse rounds the relay's node takes part in (pynode/presence)
    # Federation (PROTOCOL.md §2.11): the relays to link to (their /p2p URLs), and this relay's own public
    # /p2p URL, which its directory names so others (and the web app, /api/relays) can reach it.
    peer_relays: tuple[str, ...] = ()
    public_url: str = ""

    def archive_path(self) -> Path:
        return Path(self.archive_dir) if self.archive_dir is not None else self.data_dir / "archive"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.static_dir is not None:
            self.static_dir = Path(self.static_dir)
        if self.bytes_burst < MAX_RELAY_FRAME_BYTES or self.send_queue_bytes < MAX_RELAY_FRAME_BYTES:
            raise ValueError(f"bytes_burst and send_queue_bytes must be at least {MAX_RELAY_FRAME_BYTES}")
        if self.frames_burst < 1 or self.send_queue_frames < 1:
            raise ValueError("frames_burst and send_queue_frames must be at least 1")
        if not 0 < self.header_timeout_s <= self.request_timeout_s:
            raise ValueError("header_timeout_s must be positive and at most request_timeout_s")
        self.forwarded_allow_ips = tuple(self.forwarded_allow_ips)
        self.peer_relays = tuple(dict.fromkeys(self.peer_relays))
        for url in (*self.peer_relays, *([self.public_url] if self.public_url else [])):
            if not url.startswith(("ws://", "wss://")) or len(url) > MAX_RELAY_URL_LEN:
                raise ValueError(
                    f"a relay URL is ws:// or wss://, at most {MAX_RELAY_URL_LEN} characters: {url!r}"
                )
        for net in self.forwarded_allow_ips:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"forwarded_allow_ips: {net!r} is not an IP address or network") from None
