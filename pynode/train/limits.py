"""Limits of DiLoCo runs, each with its reason (PROTOCOL.md §9); the wire's are in `pynode/wire/limits.py`."""

PART_BYTES = 512 * 1024  # one delta part per gossip message (MAX_DATA_BYTES is ~1 MiB with the envelope)
MAX_MEMBERS = 256  # participants of one run: bounds a certificate and the per-round bookkeeping
MAX_ROUND = 2**40  # a round number is a counter; anything larger is garbage, not a long run
# a certified round still missing a delta asks again (the runtime's fetch gives up at 20 s)
DELTA_ASK_AGAIN_S = 20.0
# asked that often in vain (80 s after the certificate), a certificate is dropped and a backup's taken instead
DELTA_GIVE_UP_ASKS = 3
