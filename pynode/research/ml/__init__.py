"""The ml research domain: models of the ONNX zoo trained under research configs (see domain.py)."""

from pynode.research.ml.domain import MlDomain
from pynode.research.ml.tasks import TASKS
from pynode.research.ml.training import (
    checkpoint_theta,
    initial_state,
    replay,
    score_checkpoint,
    train_seed,
    verify_step,
)

DOMAIN = MlDomain()

__all__ = [
    "DOMAIN",
    "TASKS",
    "MlDomain",
    "checkpoint_theta",
    "initial_state",
    "replay",
    "score_checkpoint",
    "train_seed",
    "verify_step",
]
