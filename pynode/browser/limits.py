"""Limits on what the page may ask of the worker app, each with its reason."""

MAX_SOLO_STEPS = 100_000  # one solo run the page asks for: an hour of charlm-tiny in wasm; more is a typo
# units of a state check (a record checked, a signature verified: pynode/state/slices.py) between two chances to
# let the tab's loop run: a unit costs ~0.1-1 ms in Pyodide, so a chance comes every few ms
STATE_SLICE_UNITS = 16
# how long a state check may hold the tab's loop before it lets everything else run (a turn costs ~1 ms, so
# turns are taken this far apart, not at every chance); a turn comes at the first chance after it, and a slice
# took up to ~36 ms in a cold start, so this plus a slice stays under the 50 ms a tab may hold its loop (issue 14)
STATE_TURN_S = 0.01
# records received from the network since a document was last saved that make the tab save it with its seal
# (pynode/state/sealed.py; our own writes always do), so that a reload restores them instead of checking them again
STATE_CHECKPOINT_RECORDS = 100
# how long after such records or a write the tab saves: a cold start's pulls bring a board in several updates
STATE_CHECKPOINT_DELAY_S = 5.0
