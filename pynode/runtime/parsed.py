"""Parse once: what a gossip validator parsed, kept for the handler the node calls next with the same message.

The node runs a topic's validator and, when it accepts, hands the same envelope to the topic's handlers. A
runtime whose validator had to parse the payload to judge it keeps the value here under the message id, and
its handler takes it back instead of parsing the bytes again (a DiLoCo delta part is up to 512 KiB).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from pynode.runtime.limits import KEPT

T = TypeVar("T")


class ParsedMessages(Generic[T]):
    def __init__(self, limit: int = KEPT) -> None:
        self._values: OrderedDict[bytes, T] = OrderedDict()
        self._limit = limit

    def keep(self, msg_id: bytes, value: T) -> None:
        self._values[msg_id] = value
        while len(self._values) > self._limit:
            self._values.popitem(last=False)

    def take(self, msg_id: bytes) -> T | None:
        """The value kept for `msg_id`, once; None if its validator never parsed it."""
        return self._values.pop(msg_id, None)
