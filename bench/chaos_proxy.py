"""A lossy, slow loopback TCP proxy between the chaos benchmark's nodes and its relay.

One listening port per node; every byte of that node's relay WebSocket goes through it, both ways, shaped
like a poor link: each chunk is held for a random latency (order kept), a share of chunks is held as long
as a TCP retransmission would take (what packet loss looks like above TCP), each direction is throttled
to a byte rate, and the buffer between the two ends is bounded so a slow direction pushes back on its
sender as a real link does. `cut(index)` drops that node's connection (a link failure) — counted by the
benchmark as a fault of its own, never as the relay disconnecting an honest node.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass

CHUNK = 16 * 1024  # bytes read at a time
QUEUE_CHUNKS = 64  # ~1 MiB in flight per direction: the link's buffer, then backpressure
CLOSE_S = 5.0  # links given this long to wind down when the proxy closes


@dataclass(frozen=True)
class Shape:
    latency_s: tuple[float, float] = (0.005, 0.040)  # one-way delay, uniform
    loss: float = 0.01  # share of chunks delayed by a retransmission timeout
    rto_s: tuple[float, float] = (0.2, 0.4)
    bytes_per_s: float = 2 * 1024 * 1024  # per direction; under the relay's per-peer 4 MiB/s


class LinkProxy:
    def __init__(self, upstream_port: int, shape: Shape, rng: random.Random) -> None:
        self.upstream_port = upstream_port
        self.shape = shape
        self.rng = rng
        self.servers: dict[int, asyncio.Server] = {}
        self.links: dict[int, set[asyncio.StreamWriter]] = {}  # both ends of each open link, per node
        self._handlers: set[asyncio.Task[None]] = set()
        self.cuts = 0
        self.delayed_chunks = 0

    async def listen(self, index: int) -> int:
        """A port for node `index`; returns it."""
        server = await asyncio.start_server(
            lambda r, w: self._accept(index, r, w), "127.0.0.1", 0, reuse_address=True
        )
        self.servers[index] = server
        return server.sockets[0].getsockname()[1]

    def cut(self, index: int) -> bool:
        """Drop node `index`'s connections now; True when there was one to drop."""
        ends = self.links.get(index, set())
        for w in list(ends):
            w.transport.abort()  # both pumps see the connection go, as on a real link failure
        if ends:
            self.cuts += 1
        return bool(ends)

    async def close(self) -> None:
        for s in self.servers.values():
            s.close()
        for index in list(self.links):
            self.cut(index)
        _, pending = await asyncio.wait(self._handlers, timeout=CLOSE_S) if self._handlers else (set(), set())
        for task in pending:  # a pump still waiting on a link that is gone
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        ends = self.links.setdefault(index, set())
        ends.add(writer)
        up_writer = None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            ends.add(up_writer)
            pumps = [self._pump(reader, up_writer), self._pump(up_reader, writer)]
            await asyncio.gather(*pumps, return_exceptions=True)
        except OSError:
            pass  # the relay is down: the node sees its connection close
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    ends.discard(w)
                    w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)
        sender = asyncio.ensure_future(self._send(queue, writer))
        try:
            last = 0.0
            while data := await reader.read(CHUNK):
                delay = self.rng.uniform(*self.shape.latency_s)
                if self.rng.random() < self.shape.loss:
                    delay += self.rng.uniform(*self.shape.rto_s)
                    self.delayed_chunks += 1
                last = max(last, time.monotonic() + delay)  # a link keeps order
                await queue.put((last, data))
            await queue.put(None)
            await sender
        except (OSError, ConnectionError):
            writer.transport.abort()  # one side failed: the other goes too
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sender
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        while (item := await queue.get()) is not None:
            due, data = item
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()
            await asyncio.sleep(len(data) / self.shape.bytes_per_s)  # the link's rate
