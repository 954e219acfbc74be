"""What a service is: its advertised spec (name and limits) and its methods (argument parser + handler).

A service is a core: `parse` functions are pure validators of hostile arguments, and handlers are coroutines
(or async generators, for streamed methods) that do the work with whatever the runtime gave the service at
construction (a model runner, a store). The framework around them — size, rate and concurrency limits,
timeouts, streaming, cancellation, accounting — is `server.py` (sans-IO) and `pynode/runtime/services.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pynode.services.limits import CALL_TIMEOUT_S, MAX_REQUEST_BYTES

# Profile entry values the state schema accepts (pynode/state/records.py `_check_services`).
InfoValue = int | bool | str | list[str]


@dataclass(frozen=True)
class ServiceSpec:
    """A service's name (the capability it serves) and the limits it enforces on every requester."""

    name: str
    max_bytes: int = 64 * 1024  # one request's data, refused unread beyond this
    per_min: int = 120  # calls one requester may start per minute (token bucket refill)...
    burst: int = 20  # ...and at once after a quiet spell (bucket size)
    concurrent: int = 2  # calls and open streams one requester may hold at once
    capacity: int = 8  # calls and open streams of all requesters together
    timeout_s: float = CALL_TIMEOUT_S  # a unary call's work is cancelled after this
    info: Mapping[str, InfoValue] = field(default_factory=dict)  # advertised extras: models, dimensions...

    def __post_init__(self) -> None:
        if not 0 < self.max_bytes <= MAX_REQUEST_BYTES:
            raise ValueError(f"max_bytes must be in 1..{MAX_REQUEST_BYTES}")
        if min(self.per_min, self.burst, self.concurrent, self.capacity) < 1:
            raise ValueError("per_min, burst, concurrent and capacity must be ≥ 1")

    def profile_entry(self) -> dict[str, InfoValue]:
        """What the node's signed profile says about this service (PROTOCOL.md §11.3)."""
        limits = {
            "max_bytes": self.max_bytes,
            "per_min": self.per_min,
            "burst": self.burst,
            "concurrent": self.concurrent,
            "capacity": self.capacity,
        }
        return {**dict(self.info), **limits}


class Context:
    """One call as its handler sees it: who asked, and the work done (receipts and status count `units`)."""

    def __init__(self, peer: bytes) -> None:
        self.peer = peer
        self.units = 0


Unary = Callable[[Context, Any], Awaitable[Any]]
Streamed = Callable[[Context, Any], AsyncIterator[Any]]


@dataclass(frozen=True)
class Method:
    """`parse(args)` validates a requester's argument map (raise ValueError or WireError to refuse it as a
    bad request) and returns what `run` takes; `run` answers one value, or yields items when `stream`."""

    parse: Callable[[dict[str, Any]], Any]
    run: Unary | Streamed
    stream: bool = False


@dataclass(frozen=True)
class Service:
    spec: ServiceSpec
    methods: Mapping[str, Method]
