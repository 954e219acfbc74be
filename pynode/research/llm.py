"""An optional LLM strategy: any OpenAI-compatible chat endpoint proposes the next config.

The core only builds the messages and reads the reply; the runtime makes the HTTP call. Whatever the model
says goes through the domain's schema like a peer's config would: a reply that is not a valid, new config is
dropped and the built-in strategy proposes instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pynode.research.config import canonical, config_hash
from pynode.research.domain import ConfigError, Domain
from pynode.research.limits import MAX_REPLY_CHARS
from pynode.research.strategy import Prior, Proposal, ranked

SHOWN = 6  # best results shown to the model
JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def messages(domain: Domain, task: str, board: Sequence[Prior]) -> list[dict[str, str]]:
    t = domain.tasks[task]
    better = "lower" if t.direction == "min" else "higher"
    best = ranked(board, t.direction)[:SHOWN]
    lines = [f"- {t.metric} = {p.mean:.6g}: {canonical(p.config)}" for p in best]
    system = (
        "You are a research agent. Propose ONE new configuration likely to improve the metric, changing one or "
        'two settings of a good configuration. Reply with JSON only: {"config": {...}, "prediction": "one '
        'sentence: what you change, why, and what you expect"}.'
    )
    user = "\n".join(
        [
            f"Task: {t.title} ({t.id}). Metric {t.metric} in {t.unit}, {better} is better.",
            f"Baseline configuration: {canonical(domain.baseline(task))}",
            "Best results so far:",
            *lines,
            "Do not repeat any configuration above.",
        ]
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def proposal(domain: Domain, task: str, board: Sequence[Prior], reply: str) -> Proposal | None:
    """The model's reply as a validated, new proposal; None when it is not one."""
    found = JSON_OBJECT.search(reply[:MAX_REPLY_CHARS])
    if found is None:
        return None
    try:
        value: Any = json.loads(found.group(0))
        config = domain.validate(task, value["config"])
        prediction = str(value.get("prediction", ""))[:500] or f"the model's proposal improves {task}"
    except (ValueError, KeyError, TypeError, ConfigError, RecursionError):
        return None
    if config_hash(config) in {config_hash(p.config) for p in board}:
        return None
    best = ranked(board, domain.tasks[task].direction)
    return Proposal(config, "llm", best[0] if best else None, prediction)
