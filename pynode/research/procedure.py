"""How a result's samples were trained, as one comparable label: "solo", or "diloco/<peers>".

An ml seed trained as a DiLoCo run of P peers used P peers' compute, so its value is not comparable with a
seed trained alone: the statistics (p-value against the parent, "improvement" on the best) compare a result
only with results trained the same way. The label comes from a result's `training` field, whose shape
pynode.state.records has already checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOLO = "solo"


def procedure(training: Any) -> str:
    """The label of a result's `training` (absent or solo: "solo")."""
    if not isinstance(training, Mapping) or training.get("mode") != "diloco":
        return SOLO
    runs = training.get("runs") or []
    rounds = runs[0].get("rounds", []) if runs and isinstance(runs[0], Mapping) else []
    peers = {bytes(named[0]) for r in rounds for named in r}
    return f"diloco/{len(peers)}"
