"""What a replica refuses in research results beyond their schema (installed as the Store's policy).

A result that names a task this node knows must fit it: the task's metric, unit and direction, a config the
domain's schema accepts (peers' configs and programs are hostile), one sample per seed, and a headline value
that is the mean of its samples. The whole update carrying it is refused and its sender penalised, like a
forgery. Tasks this node does not know (a newer release) pass: a node cannot judge them.
"""

from __future__ import annotations

from pynode.research import stats
from pynode.research.agent import decimal_text
from pynode.research.config import parse
from pynode.research.domain import ConfigError
from pynode.research.registry import DOMAIN_MODULES
from pynode.research.registry import domain as load_domain
from pynode.state.records import Record


def check_result(record: Record) -> None:
    """Raise ValueError when `record` is a result that contradicts its research task."""
    b = record.body
    if record.kind != "result" or b["domain"] not in DOMAIN_MODULES:
        return
    task = load_domain(b["domain"]).tasks.get(b["task"])
    if task is None:
        return
    if (b["metric"], b["unit"], b["direction"]) != (task.metric, task.unit, task.direction):
        raise ValueError(f"{task.id} is measured as {task.metric} in {task.unit} ({task.direction})")
    if "config" in b:
        try:
            load_domain(b["domain"]).validate(task.id, parse(b["config"]))
        except ConfigError as e:
            raise ValueError(f"config refused by the {task.domain} domain: {e}") from None
    if "samples" in b:
        samples = [float(v) for v in b["samples"]]
        if len(samples) != b["seeds"]:
            raise ValueError(f"{len(samples)} samples for {b['seeds']} seeds")
        if decimal_text(stats.mean(samples)) != b["value"]:
            raise ValueError("the value is not the mean of the samples")
