"""Pacing outgoing traffic under a receiver's token buckets, sans-IO: the caller passes `now` and sleeps.

A relay counts every frame a peer sends it against two token buckets (PROTOCOL.md §2.9, §6.3) and cuts off a
peer that runs either dry, honest or not. A node therefore books each frame with a `Pacer` that refills more
slowly and holds less than the relay's buckets, waits the delay it is given, then sends: whatever the node is
asked to forward, answer or serve, the relay sees it within budget. Bookings may run ahead of time (tokens go
negative, later senders wait longer), but never further than `max_delay`: past that the frame is refused, so a
flood becomes dropped frames (which gossip repairs) instead of an unbounded queue.

Bookings space frames out, but a sender wakes when its event loop lets it: after a stall (a cold start importing
state, a busy machine) every frame booked meanwhile would go at once, up to `max_delay` of budget in one burst,
more than the relay's bucket holds. So each frame is also `release`d against a second pair of buckets at the
moment it really goes out (found by bench chaos: an honest node, restarting, was cut off for rate).
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASE_RESOLUTION_S = 0.001  # shorter waits are not worth a sleep (and would not move a float clock at all)


@dataclass
class Bucket:
    """A token bucket: `rate` units per second, at most `burst` held."""

    rate: float  # units per second
    burst: float  # units held at most
    tokens: float = 0.0
    last: float = 0.0

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = max(self.last, now)

    def wait_after(self, amount: float) -> float:
        """Seconds until the bucket, were `amount` taken now, is back at zero."""
        return max(0.0, amount - self.tokens) / self.rate


class Pacer:
    def __init__(
        self, bytes_per_s: float, bytes_burst: float, frames_per_s: float, frames_burst: float, now: float,
        max_delay: float,
    ) -> None:  # fmt: skip
        self.volume = Bucket(bytes_per_s, bytes_burst, bytes_burst, now)
        self.frames = Bucket(frames_per_s, frames_burst, frames_burst, now)
        self.sent_volume = Bucket(bytes_per_s, bytes_burst, bytes_burst, now)  # at the moments frames go out
        self.sent_frames = Bucket(frames_per_s, frames_burst, frames_burst, now)
        self.max_delay = max_delay
        self.refused = 0

    def book(self, size: int, now: float) -> float | None:
        """Book one frame of `size` bytes: the seconds to wait before sending it, or None (refused: the
        backlog already reaches `max_delay`)."""
        self.volume.refill(now)
        self.frames.refill(now)
        delay = max(self.volume.wait_after(size), self.frames.wait_after(1))
        if delay > self.max_delay:
            self.refused += 1
            return None
        self.volume.tokens -= size
        self.frames.tokens -= 1
        return delay

    def release(self, size: int, now: float) -> float:
        """A booked frame of `size` bytes is about to go out at `now`: 0.0 when it may (its tokens are taken),
        else the seconds to wait before asking again (frames woken together after a stall are spread out)."""
        self.sent_volume.refill(now)
        self.sent_frames.refill(now)
        wait = max(self.sent_volume.wait_after(size), self.sent_frames.wait_after(1))
        if wait > RELEASE_RESOLUTION_S:
            return wait
        self.sent_volume.tokens -= size
        self.sent_frames.tokens -= 1
        return 0.0
