"""The relay's limits on what peers and HTTP clients send it and on what it serves, each with its reason.

The wire-format limits every frame obeys are in `pynode/wire/limits.py`; operator-tunable rates and queue sizes
are `RelayConfig` fields (config.py).
"""

from pynode.wire.limits import MAX_CLOCK_SKEW_MS, MAX_RELAY_FRAME_BYTES

MiB = 1024 * 1024

# ---- /p2p WebSocket (PROTOCOL.md §2) ---------------------------------------------------------------------
# uvicorn's hard cap on one message: above MAX_RELAY_FRAME_BYTES so a slightly oversized frame gets a readable
# `bad_frame` error; beyond this the socket is cut with close code 1009.
WS_MAX_SIZE = 2 * MAX_RELAY_FRAME_BYTES
WELCOME_PEERS = 64  # peers a welcome names: several times any node's target of links (12), few frames' worth
WELCOME_NEWEST = 32  # of them the newest arrivals, who have the fewest links yet; the rest drawn at random
JOIN_FANOUT = 64  # peers told of each arrival (all of them in a smaller network): enough to fill its links,
# linear in the number of arrivals where telling everyone was quadratic
FLUSH_TIMEOUT_S = 2.0  # a closing peer that does not read its error frame within this is cut off
SHUTDOWN_FLUSH_S = 1.0  # how long shutdown waits for peers to be told why, so a stuck one cannot hold it up

# ---- federation links (federation.py; the protocol's own limits are in pynode/net/limits.py) ----------------
FED_FRAMES_PER_S = 5000.0  # frames one federated relay may send per second: the traffic of all its peers…
FED_FRAMES_BURST = 10_000  # …with this burst; beyond, the link is a flood and is cut (and the relay banned)
FED_BYTES_PER_S = 64 * MiB  # bytes per second on one link, and…
FED_BYTES_BURST = 128 * MiB  # …at once (a hundred maximal circuit frames)
FED_SEND_QUEUE_FRAMES = 16_384  # frames queued towards one federated relay before the link counts as stuck
FED_SEND_QUEUE_BYTES = 64 * MiB  # the same in bytes
FED_HANDSHAKE_S = 10.0  # the four frames that open a federation link must be done within this
FED_DIAL_MIN_S = 0.5  # first delay before dialling a peer relay again…
FED_DIAL_MAX_S = 30.0  # …doubling up to this: a relay that is down is not hammered
FED_DISCOVERED_TRIES = 5  # failed dials after which a URL learned from a directory is given up
MAX_INBOUND_FED_LINKS = 16  # links other relays open to us, of MAX_FED_LINKS: identities are free, so
# strangers cannot take every slot from the relays an operator listed with --peer-relay
CHECK_TIMEOUT_S = 5.0  # `hyperspace relay --check`: one peer relay's WebSocket and federation hello

# ---- raw connections (guard.py) and logs (logs.py) ---------------------------------------------------------
FD_RESERVE = 128  # descriptors the fd budget leaves for files, git's pipes, logs and the embedded node
HTTP_HEADROOM_PER_IP = 16  # sockets an address may open beyond its WebSocket cap (HTTP beside its nodes)
MIN_FD_BUDGET = 64  # sockets, however low the descriptor limit: below this the relay is of no use anyway
REFUSAL_LINGER_S = 1.0  # a refused socket is kept half-closed this long, so its client reads why (no reset)
MAX_LINGERING = 32  # refused sockets lingering at once, within FD_RESERVE; beyond, they are closed at once
UNLIMITED_FD_BUDGET = 1 << 16  # sockets when the descriptor limit is unlimited: a bound on memory instead
MAX_HEADER_BYTES = 16 * 1024  # a request line and headers, all told (h11's incomplete-event limit)
KEEP_ALIVE_S = 5  # an idle kept-alive HTTP connection is closed after this
LOG_PER_S = 5.0  # log lines per second from floodable loggers, all together…
LOG_BURST = 50  # …with this burst, so a flood of connections writes kilobytes, not megabytes
LOG_PER_KEY_PER_S = 1.0  # per message template: one noisy kind cannot drown the others
LOG_PER_KEY_BURST = 10
LOG_KEYS = 256  # message templates tracked; more share one bucket (a flood of distinct texts cannot grow it)

# ---- the relay's own node (embedded.py, origin.py) ---------------------------------------------------------
ORIGIN_ATTESTS_PER_S = 25.0  # origin attestations published per second (each a gossip message to everyone):
# 2,000 arrivals at once are attested within ~3 minutes instead of in one burst the whole network must carry

# ---- HTTP API ------------------------------------------------------------------------------------------
STATUS_MAX_PEERS = 1000  # peers listed in /api/status (newest first; `counts.peers` has the total)
STATE_MAX_ROWS = 50  # rows per leaderboard in /api/state: what a dashboard card shows, not the archive
REVIEW_MAX_ROWS = 50  # reviewed results in /api/reviews (newest first): the dashboard's list, not the archive

# ---- /explore (the read-only explorer) -------------------------------------------------------------------
EXPLORE_MAX_ROWS = 200  # rows per board or result list on one page: a page stays readable and cheap to serve
EXPLORE_MAX_LINEAGE = 300  # newest results of a task drawn in its lineage tree (about 6,600 px of SVG rows)
EXPLORE_MAX_LINKS = 100  # children or citing papers listed on a result's page
EXPLORE_REFRESH_S = 2.0  # re-read the replica at most this often: new records cannot make every view re-sort
MARKDOWN_MAX_SPAN = 2000  # characters searched for a closing `, * or _: hostile text costs linear time
MARKDOWN_MAX_DEPTH = 4  # emphasis/link nesting rendered; deeper is shown as text (bounds the recursion)

# ---- archive gateway (docs/ARCHIVE.md) -----------------------------------------------------------------
MAX_SUBMISSION_BYTES = 1000 * 1024  # one submission; fits one request frame on the relay connection too
MAX_FILES = 64  # files in one submission: a run's logs and figures, not a dataset
MAX_PATH_LEN = 200  # characters in one submitted path; deeper trees belong in fewer, bigger files
MAX_PATH_DEPTH = 8  # folders in one submitted path
DEFAULT_QUOTA_BYTES = 64 * MiB  # per node, everything it ever submitted: one node cannot fill the repository
REPLAY_WINDOW_MS = 2 * MAX_CLOCK_SKEW_MS  # a submission stamped further from now is refused (replays)
GIT_TIMEOUT_S = 120.0  # one git command; a hung push must not stall the archiver forever
STALE_LOCK_S = 10.0  # a git lock file this old at start is a killed process's (ours take milliseconds)
LEDGER_COMPACT_SLACK = 1000  # journal lines beyond twice the facts before the gateway ledger is rewritten
QUARANTINE_KEEP = 100  # queue entries that could not be committed, kept aside for an operator; older ones go
