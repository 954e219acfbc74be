"""Limits of the ml domain, each with its reason. Configs come from peers and LLMs: hostile input."""

from pynode.train.schedule import LR_FLOOR  # noqa: F401  (one schedule for solo runs and DiLoCo inner steps)

MAX_CHOICE_CHARS = 40  # variant and schedule names are short; longer text is refused before any lookup
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error, so errors stay small
MIN_LR, MAX_LR = 1e-4, 3e-2  # AdamW on these models: below, nothing moves in a short run; above, it diverges
MAX_WEIGHT_DECAY = 0.3  # decoupled decay beyond this shrinks θ faster than a few hundred steps can fit it
MAX_WARMUP = 100  # warm-up longer than this eats most of a run's budget (and is capped at half the steps)
MIN_STEPS = 20  # fewer steps measure the initialisation, not the config
FLOAT_DIGITS = 3  # significant digits kept of lr and weight decay: near-equal configs share one hash
CHECKPOINT_EVERY = 50  # steps between committed states (θ hashes) a reviewer re-executes from
# an experiment trained with peers (collab.py): each seed one DiLoCo run
DILOCO_ROUNDS = 4  # outer rounds per run: H = steps / 4, so a 200-step config syncs every 50 inner steps
DILOCO_CODEC = "int8"  # 4x smaller deltas than fp32, within DiLoCo's noise (bench diloco)
DILOCO_ROUND_DEADLINE_S = 120.0  # a round waits this long for every peer: a slow tab must not drop out
DILOCO_PEER_WINDOW_S = 900.0  # a live peer that published a result on the task this recently researches it
