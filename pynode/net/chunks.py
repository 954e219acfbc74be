"""Splitting frames into data-channel messages and joining them back (PROTOCOL.md §4).

WebRTC stacks cap one message (aiortc: 256 KiB; browsers differ), so each frame travels as chunks of at most
CHUNK_BYTES, each prefixed by one byte: MORE (another chunk follows) or LAST.
"""

from __future__ import annotations

from pynode.net.limits import CHUNK_BYTES
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES

MORE, LAST = 0x01, 0x00


def split(frame: bytes) -> list[bytes]:
    if not frame:
        return [bytes([LAST])]
    parts = [frame[i : i + CHUNK_BYTES] for i in range(0, len(frame), CHUNK_BYTES)]
    return [bytes([MORE]) + p for p in parts[:-1]] + [bytes([LAST]) + parts[-1]]


class Reassembler:
    """Joins chunks into frames, refusing anything over MAX_FRAME_BYTES before buffering it."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_frame

    def push(self, message: bytes) -> bytes | None:
        """Add one message; returns a whole frame when this was its last chunk."""
        if not message or message[0] not in (MORE, LAST):
            raise WireError("bad_chunk", "a data-channel message must start with 0x00 or 0x01")
        if len(message) - 1 > CHUNK_BYTES:
            raise WireError("oversized", "chunk larger than 64 KiB")
        self._size += len(message) - 1
        if self._size > self._max:
            raise WireError("oversized", f"frame over {self._max} bytes")
        self._parts.append(message[1:])
        if message[0] == MORE:
            return None
        frame = b"".join(self._parts)
        self._parts, self._size = [], 0
        return frame
