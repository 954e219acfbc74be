"""How many training steps go into one graph call (`Runner.train_steps`, the `train_loop` graph).

More steps per call pay the runtime's crossing once for all of them (in a tab: Python → JS → wasm, and θ, m
and v copied into wasm memory and out again), but a call holds the thread it runs on: in a tab that is the
node's own event loop. So a call aims at CALL_SECONDS, measured from the calls before it. k steps in one
call give the same state bit for bit as k calls, so the chunking never changes what is trained.
"""

from __future__ import annotations

CALL_SECONDS = 0.1  # a tab's node answers its peers between calls: no longer a pause than a slow network hop
MAX_STEPS_PER_CALL = (
    32  # past this the crossing saved per step is noise (bench train), the stacked batches grow
)


class StepChunks:
    """The next call's step count, from the seconds per step the caller measured on the previous ones."""

    def __init__(self) -> None:
        self._k = 1  # the first call measures the step time

    def next(self, remaining: int) -> int:
        """Steps for the next call, at most `remaining` (> 0)."""
        return max(1, min(self._k, remaining))

    def took(self, steps: int, seconds: float) -> None:
        """A call of `steps` steps took `seconds`."""
        per_step = seconds / max(1, steps)
        fit = int(CALL_SECONDS / per_step) if per_step > 0 else MAX_STEPS_PER_CALL
        self._k = max(1, min(MAX_STEPS_PER_CALL, fit))
