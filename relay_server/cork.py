"""Writes to one socket within one event-loop turn go out as one write (one syscall, not one per frame).

Profiled under `hyperspace bench relay` (cProfile, 300 peers ramping): the join fan-out (then every peer told of
every newcomer, N² frames while a relay fills; PROTOCOL.md §2.4 now bounds it) spent half the relay's busy time
writing frames one `send()` syscall each. A peer's writer drains its whole queue in one turn without suspending, so corking the
transport for that turn turns its frames into one syscall; a lone frame waits one loop turn at most.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CorkedTransport:
    """Wraps an asyncio transport: `write` buffers until the next loop turn; everything else passes through."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # a close frame written just before must still go out
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(d) for d in self._pending)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
