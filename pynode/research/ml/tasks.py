"""The ml tasks: which graphs (a model family of the zoo), which data, which metric, and the step budget.

Every variant of a family is a pre-exported, hash-checked graph set (pynode/train/graphs); a config can only
choose among them. Hyperparameters (lr, weight decay, AdamW's betas) are 0-d graph inputs, so they are free;
the batch shape is fixed in the graphs, so batch size is not a knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pynode.research.domain import Config, Task
from pynode.train.assets import graph_hash
from pynode.train.zoo import MODELS


@dataclass(frozen=True)
class MlTask:
    task: Task
    dataset: str  # a name for pynode.train.data.load_dataset
    family: str  # the base model; its variants are the zoo's models named `<base>-<axis>`
    max_steps: int  # the budget: n seeds × max_steps of the slowest variant fit in task.budget_s
    baseline: Config
    classes: int  # predicting uniformly over them scores ln(classes): what a diverged run counts as

    @property
    def variants(self) -> tuple[str, ...]:
        # only models whose train and eval graphs ship: names, not graphs, come from a config
        names = [m for m in MODELS if m == self.family or m.startswith(self.family + "-")]
        return tuple(m for m in names if _ships(m))

    @property
    def chance_loss(self) -> float:
        return math.log(self.classes)


def _ships(model: str) -> bool:
    try:
        return bool(graph_hash(model, "train") and graph_hash(model, "eval"))
    except KeyError:
        return False


DIGITS = MlTask(
    Task(
        domain="ml",
        id="digits-mlp",
        metric="val_loss",
        unit="nats/image",
        direction="min",
        title="8×8 handwritten digits (UCI optdigits): validation cross-entropy of an MLP on 256 held-out images",
        seeds=3,
        budget_s=5.0,
        # re-runs repeat bit for bit on one platform; across machines and wasm the MLP drifts little
        tolerance=1e-3,
    ),
    dataset="digits",
    family="digits-mlp",
    max_steps=600,
    baseline={
        "variant": "digits-mlp",
        "lr": 0.003,
        "warmup": 0,
        "schedule": "constant",
        "steps": 200,
        "weight_decay": 0.0,
    },
    classes=10,
)

CHARLM = MlTask(
    Task(
        domain="ml",
        id="charlm-cranfield",
        metric="val_loss",
        unit="nats/char",
        direction="min",
        title="Character LM on the Cranfield abstracts: validation cross-entropy of a tiny transformer",
        seeds=3,
        budget_s=20.0,
        # a transformer drifts across platforms (PLATFORM_NOTES): 2 threads instead of 1 moved a 300-step
        # run's val loss by up to 1.6e-4; this allows 30× that, still a tenth of the seed-to-seed spread
        tolerance=5e-3,
    ),
    dataset="cranfield",
    family="charlm-tiny",
    max_steps=300,
    baseline={
        "variant": "charlm-tiny",
        "lr": 0.003,
        "warmup": 0,
        "schedule": "constant",
        "steps": 200,
        "weight_decay": 0.01,
    },
    classes=32,
)

TASKS: dict[str, MlTask] = {t.task.id: t for t in (DIGITS, CHARLM)}
