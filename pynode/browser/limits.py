"""Limits on what the page may ask of the worker app, each with its reason."""

MAX_SOLO_STEPS = 100_000  # one solo run the page asks for: an hour of charlm-tiny in wasm; more is a typo
