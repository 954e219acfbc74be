"""Limits of the research tier, each with its reason. Peers' configs and programs are hostile input.

The sizes a signed record may carry are the state tier's (pynode.state.records); they are named here too.
"""

from pynode.state.limits import MAX_FIGURE_BYTES, MAX_RESULT_CONFIG, MAX_RESULT_SAMPLES

MAX_CONFIG_BYTES = MAX_RESULT_CONFIG  # what a result record carries
MAX_CONFIG_DEPTH = 32  # s-expression programs nest; deeper is an attack on the parser, not a program
MAX_SAMPLES = MAX_RESULT_SAMPLES
MAX_PROPOSALS = 50  # a strategy that keeps proposing configs already on the board gives up after this many
MAX_REPLY_CHARS = 20_000  # an LLM reply longer than this is not a config; read no further
MAX_RUN_FILE_BYTES = 256 * 1024  # an archived run file: a result (≤ 64 KiB) as JSON and as hex, and links
__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "MAX_FIGURE_BYTES",
    "MAX_PROPOSALS",
    "MAX_REPLY_CHARS",
    "MAX_RUN_FILE_BYTES",
    "MAX_SAMPLES",
]
