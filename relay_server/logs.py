"""Rate-limited logging: a flood of connections must not become a flood of log lines.

Every message a hostile client can cause once per connection or request (uvicorn's access and error lines,
asyncio's accept errors, the relay's own refusals) goes through one `RateLimit` filter on the loggers that write
them: per message template a token bucket, and one bucket over them all. What is dropped is counted and said
with the next line let through, so an operator still learns that (and how much) happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from relay_server.admission import TokenBucket
from relay_server.limits import LOG_BURST, LOG_KEYS, LOG_PER_KEY_BURST, LOG_PER_KEY_PER_S, LOG_PER_S

# The loggers a client can make write once per connection or request (filters act on the logger a record is
# created on, so each is named).
FLOODABLE = (
    "asyncio",
    "uvicorn.error",
    "uvicorn.access",
    "relay_server.p2p",
    "relay_server.hub",
    "relay_server.guard",
)


class RateLimit(logging.Filter):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._all = TokenBucket(LOG_PER_S, LOG_BURST, clock())
        self._per_key: dict[tuple[str, str], TokenBucket] = {}
        self.dropped = 0  # since the last line let through

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        key = (record.name, str(record.msg)[:200])
        bucket = self._per_key.get(key)
        if bucket is None:
            if (
                len(self._per_key) >= LOG_KEYS
            ):  # templates are few; a flood of distinct ones shares one bucket
                key = ("", "")
                bucket = self._per_key.get(key)
            if bucket is None:
                bucket = self._per_key[key] = TokenBucket(LOG_PER_KEY_PER_S, LOG_PER_KEY_BURST, now)
        if not (bucket.take(1, now) and self._all.take(1, now)):
            self.dropped += 1
            return False
        if self.dropped:
            record.msg = f"{record.msg} [{self.dropped} log lines suppressed before this one]"
            self.dropped = 0
        return True


_installed: RateLimit | None = None


def limit_floodable_logs() -> RateLimit:
    """Put one shared rate limit on every FLOODABLE logger (once per process)."""
    global _installed
    if _installed is None:
        _installed = RateLimit()
        for name in FLOODABLE:
            logging.getLogger(name).addFilter(_installed)
    return _installed
