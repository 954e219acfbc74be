"""Topic names. Versioned (`hs/1/...`) so that a future wire change can run beside this one."""

DEMO_PULSE = "hs/1/demo/pulse"
DEFAULT_TOPICS = [DEMO_PULSE]
