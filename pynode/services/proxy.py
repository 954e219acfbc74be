"""The proxy service's rules, sans-IO: which requests a CPython node forwards for its peers (tab nodes reach an
operator's LLM endpoint without CORS or keys), and how much each requester may pull.

`fetch` (streamed): {method: GET|POST, url, headers: {name: value}, body: bytes} -> first item {status,
headers}, then the response body as byte pieces. Rules, in order: the URL must be http(s) and start with one of
the operator's allowlisted prefixes (a prefix matches at a path boundary); the requester's headers lose
hop-by-hop ones, cookies and credentials (the operator's own credential is added by the node); every address
the host resolves to must be public — unless the allowlist entry names that address literally (an operator
who allowlists http://127.0.0.1:8000/ means it). The node connects to the address it checked (no DNS
rebinding between check and connect). Redirects are returned, not followed. A requester's response bytes are
metered per hour.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pynode.services.limits import (
    MAX_PROXY_BODY,
    MAX_PROXY_HEADER_LEN,
    MAX_PROXY_HEADERS,
    MAX_PROXY_URL,
    PROXY_BYTES_PER_HOUR,
)
from pynode.services.quota import Bucket

CAP = "proxy"
METHODS = ("GET", "POST")
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
SECRET = {"authorization", "cookie", "set-cookie", "x-api-key", "api-key"}  # never forwarded either way
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class ProxyRefused(ValueError):
    """A request the rules refuse (answered as bad_request: no other proxy peer would take it either)."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str  # path + query, as sent upstream
    entry: str  # the allowlist prefix it matched


@dataclass(frozen=True)
class Fetch:
    method: str
    target: Target
    headers: tuple[tuple[str, str], ...]
    body: bytes


def normalise_prefix(prefix: str) -> str:
    """An operator's allowlist entry, checked: http(s)://host[:port][/path]."""
    parts = urlsplit(prefix)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError(f"--proxy-allow {prefix!r}: give http(s)://host[:port][/path]")
    if parts.query or parts.fragment:
        raise ValueError(f"--proxy-allow {prefix!r}: no query or fragment")
    return prefix


def _matches(url: str, prefix: str) -> bool:
    if not url.startswith(prefix):
        return False
    rest = url[len(prefix) :]
    # at a boundary: http://api.example.com must not admit http://api.example.com.evil.org
    return prefix.endswith("/") or rest == "" or rest[0] in "/?#"


class Rules:
    def __init__(self, allow: list[str]) -> None:
        self.allow = [normalise_prefix(p) for p in allow]

    def target(self, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProxyRefused("url must be http(s)://host/...")
        if parts.username or parts.password or parts.fragment:
            raise ProxyRefused("url may not carry credentials or a fragment")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ProxyRefused("url has a bad port") from None
        entry = next((p for p in self.allow if _matches(url, p)), None)
        if entry is None:
            raise ProxyRefused("url is not on this node's proxy allowlist")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(url, parts.scheme, parts.hostname.lower(), port, path, entry)

    def check_addresses(self, target: Target, addresses: list[str]) -> str:
        """The address to connect to: all resolved addresses must be public, unless the matched entry names
        the one address literally. Raises ProxyRefused."""
        if not addresses:
            raise ProxyRefused(f"{target.host} does not resolve")
        literal = _literal(urlsplit(target.entry).hostname or "")
        parsed = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
        if literal is not None:
            if parsed != [literal] and set(parsed) != {literal}:
                raise ProxyRefused("the url's address is not the allowlisted one")
            return str(literal)
        private = [str(a) for a in parsed if not a.is_global or a.is_multicast]
        if private:
            raise ProxyRefused(f"{target.host} resolves to a private address ({private[0]})")
        return str(parsed[0])


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def parse_fetch(args: dict[str, Any], rules: Rules) -> Fetch:
    if not set(args) <= {"method", "url", "headers", "body"}:
        raise ValueError("fetch takes method, url, headers, body")
    method = args.get("method", "GET")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    url = args.get("url")
    if not isinstance(url, str) or not 0 < len(url) <= MAX_PROXY_URL or not url.isprintable():
        raise ValueError(f"url must be printable text of at most {MAX_PROXY_URL} characters")
    headers = args.get("headers", {})
    if not isinstance(headers, dict) or len(headers) > MAX_PROXY_HEADERS:
        raise ValueError(f"headers must be a map of at most {MAX_PROXY_HEADERS} entries")
    kept = []
    for name, value in headers.items():
        ok = isinstance(value, str) and len(name) > 0 and len(name) + len(value) <= MAX_PROXY_HEADER_LEN
        if not ok or not name.isascii() or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError("header names are tokens, values short text")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("header values may not contain line breaks")
        if name.lower() not in HOP_BY_HOP | SECRET:
            kept.append((name, value))
    body = args.get("body", b"")
    if not isinstance(body, bytes) or len(body) > MAX_PROXY_BODY:
        raise ValueError(f"body must be at most {MAX_PROXY_BODY} bytes")
    if body and method == "GET":
        raise ValueError("a GET has no body")
    return Fetch(method, rules.target(url), tuple(kept), body)


def response_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Upstream headers passed back: no hop-by-hop ones, no cookies, bounded."""
    out: dict[str, str] = {}
    for name, value in headers:
        low = name.lower()
        if low in HOP_BY_HOP | SECRET or len(out) >= MAX_PROXY_HEADERS:
            continue
        out[low] = value[:MAX_PROXY_HEADER_LEN]
    return out


class Meter:
    """Response bytes per requester per hour (a bucket of PROXY_BYTES_PER_HOUR refilled over the hour)."""

    def __init__(self, per_hour: int = PROXY_BYTES_PER_HOUR) -> None:
        self.per_hour = per_hour
        self._buckets: dict[bytes, Bucket] = {}

    def left(self, peer: bytes, now: float) -> float:
        return self._bucket(peer, now).level(now)

    def spend(self, peer: bytes, n: int, now: float) -> bool:
        """Charge `n` bytes; False once the requester's hour is spent."""
        b = self._bucket(peer, now)
        b.level(now)
        b.tokens -= n
        return b.tokens >= 0

    def _bucket(self, peer: bytes, now: float) -> Bucket:
        b = self._buckets.get(peer)
        if b is None:
            if len(self._buckets) >= 4096:  # forget full buckets first: they hold no debt
                for k in [k for k, v in self._buckets.items() if v.level(now) >= v.burst][:1024]:
                    del self._buckets[k]
            b = self._buckets[peer] = Bucket(self.per_hour / 3600, self.per_hour, self.per_hour, now)
        return b
