"""Limits of the replicated state, each with its reason (PROTOCOL.md §8); the wire's are `pynode/wire/limits.py`.

Every one bounds what a peer can make a replica parse, verify, import or keep.
"""

from pynode.wire.limits import MAX_FRAME_BYTES

# ---- records ------------------------------------------------------------------------------------------
MAX_RECORD_BYTES = 64 * 1024  # a paper's Markdown fits; anything bigger goes to the archive gateway
MAX_PAPER_MARKDOWN = 40 * 1024  # a paper's text, leaving room in its record for its figures
MAX_FIGURES = 2  # a paper's SVG figures travel in its record, so they share its 64 KiB
MAX_FIGURE_BYTES = 12 * 1024  # a per-seed dot plot or a loss curve is 2–8 KiB of SVG
MAX_RESULT_CONFIG = 16 * 1024  # a result's config (pynode.research.limits): a skills program is the largest
MAX_RESULT_SAMPLES = 64  # per-seed values; experiments run a handful of seeds
MAX_TRAINING_ROUNDS = 64  # rounds of one DiLoCo-trained seed a result lists: research runs have a handful
MAX_TRAINING_PEERS = 32  # peers named in one such round: who trained it, each with its inner steps
MAX_CERTIFICATE_PARTICIPANTS = 1_200  # ~165 B per node: a round of 1,200 nodes in one record
MAX_CERTIFICATE_STRIKES = 16  # offenders named with evidence in one certificate; more just fail the round
MAX_STRIKE_EVIDENCE_BYTES = 2_048  # one strike's evidence: the offender's pulse and reveal envelopes
MAX_CERTIFICATE_COSIGS = 16  # the committee is 7
MAX_CERTIFICATE_BYTES = 240 * 1024  # the participants, strikes and co-signatures above, under a gossip update
MAX_RECEIPT_COUNT = 1_000_000  # requests one requester had served by one server in an hour: ~280 a second
MAX_RECEIPT_UNITS = 2**53  # tokens, bytes or items served in that hour; exact in every JSON reader
MAX_REVIEW_SUBSCORES = 8  # the review rubric has five sub-scores; room for a later rubric, never an open map
MAX_PROFILE_SERVICES = 16  # services one profile advertises: the nine capabilities and room to grow
MAX_SERVICE_FIELDS = 12  # limits and facts per advertised service (five limits, a few descriptions)
MAX_SERVICE_LIST = 32  # texts in one advertised field, e.g. the models an inference node serves
MAX_SERVICE_TEXT = 64  # one advertised text: a model name, a unit

# ---- per author and document (quota.py) -----------------------------------------------------------------
AUTHOR_RECORDS = 4096  # weeks of one busy agent's results; 10 MB of junk from one key is cut off early
AUTHOR_BYTES = 4 * 1024 * 1024  # 64 maximal papers, thousands of results: what one key makes everyone store
AUTHOR_RATE = 120  # records of one author within any window below, by the records' own timestamps
AUTHOR_RATE_WINDOW_MS = 60_000  # a busy agent publishes a few records a minute, never hundreds

# ---- documents ----------------------------------------------------------------------------------------
MAX_BLOB_BYTES = 64 * 1024 * 1024  # a whole document sent to a cold-starting replica, reassembled from chunks
MAX_CHANGES_PER_BLOB = 200_000  # changes in one blob: each is checked and verified, so this bounds the work
# A large blob for an empty document is imported in parts (crdt.BlobSplit) of at most this many changes: one
# part's header read and import take 1-3 ms in a tab, where a 2 MB snapshot's took 17-60 ms each under load
SPLIT_CHANGES = 128
# Smaller blobs are taken whole: their header read and import stay near 50 ms even under load (12-13 ms a MB at
# load 5), and in parts a 5,000-record (2 MB) snapshot cost the tab's thread 0.1-0.36 s more CPU (the parts'
# imports and headers: bench/state_tab.py --whole), more than the two calls it bounds
SPLIT_MIN_BYTES = 4 * 1024 * 1024
MAX_WRITE_RETRIES = 8  # a write whose document keeps changing while we sign fails instead of spinning

# ---- sync ---------------------------------------------------------------------------------------------
MAX_GOSSIP_UPDATE = 256 * 1024  # one gossiped update: a handful of records
RESPONSE_BUDGET = MAX_FRAME_BYTES - 64 * 1024  # blobs per pull response, leaving room for framing
CHUNK_BYTES = 512 * 1024  # one part of a blob too big for a response: half a frame
MAX_VV_PEERS = 100_000  # authors named in one version vector: far more than ever wrote, far less than memory
PULL_TIMEOUT_S = 10.0  # a pull unanswered this long is given up, and the next tick asks another peer
# a replica that learnt its own history neither from disk nor from a pull in this long is alone: it writes (a
# few pulls at AE_INTERVAL_S, with one timeout; a lone node's first record waits no longer than this)
HISTORY_WAIT_S = 2 * PULL_TIMEOUT_S
MAX_QUEUED_WRITES = 1024  # writes asked for before the history is known: minutes of a busy agent's records
EXPORT_CACHE = 8  # exported blobs kept for peers fetching them in chunks
EXPORT_TTL_S = 60.0  # an export nobody fetched from within this is dropped
# What we serve one peer's pulls, paced (net/pacer.py) so one cold start cannot take the whole relay budget
# (RELAY_SEND_BYTES_PER_S) from our gossip: a 4 MiB board reaches a newcomer in 3 s, a 64 MiB one in a minute
SERVE_BYTES_PER_S = 1024 * 1024
SERVE_BYTES_BURST = 2 * 1024 * 1024  # the first answers of a cold start go out at once
SERVE_FRAMES_PER_S = 20.0  # pull answers per second to one peer: it pulls every AE_INTERVAL_S
SERVE_MAX_DELAY_S = PULL_TIMEOUT_S / 2  # an answer booked further ahead is refused as busy, not sent too late
SERVE_PEERS = 256  # peers whose serving budget we remember: bounded memory, a forgotten one starts full

# ---- equivocation (equivocation.py) -------------------------------------------------------------------------
MAX_LEDGER_ENTRIES = AUTHOR_RECORDS  # one author's changes sent to compare histories: each holds ≥ 1 record
MAX_EVIDENCE_CHANGE_BYTES = MAX_GOSSIP_UPDATE + 64 * 1024  # one change in full: a gossiped update and its ids
MAX_EVIDENCE_KEPT = 256  # faulty authors whose evidence we keep to pass on; beyond, only the verdict stays

# ---- updates held for their dependencies (held.py) ----------------------------------------------------------
HELD_UPDATES = 256  # a gap of a few seconds in a busy network; beyond it the oldest go (a pull repairs them)
HELD_BYTES = 8 * 1024 * 1024  # 32 maximal gossiped updates: what waiting may cost in memory
HELD_PER_AUTHOR = 32  # one author's run of updates behind one gap; more cannot crowd out everyone else's
HELD_TTL_MS = 30_000  # pulls every ~2 s bring any dependency that exists anywhere long before this
MAX_STRIKES = 3  # updates of one author that expired unresolved before it is penalised: not one unlucky gap
MAX_STRIKE_AUTHORS = 4096  # authors with strikes remembered: bounded memory against identity churn

# ---- the task board (records.py: task, assignment, task_reply) ---------------------------------------------
MAX_TASK_TITLE = 200  # a line a person reads on the board
MAX_TASK_SPEC = 16 * 1024  # a DiLoCo run spec or a campaign's config as JSON; data goes to storage, by hash
MAX_TASK_CAPS = 8  # capabilities a task requires: a few of the nine
MAX_TASK_MEMORY_MB = 1024 * 1024  # a terabyte: anything above is a typo, not a requirement
MAX_TASK_COMPUTE_S = 10**9  # thirty CPU-years per node: the bound only keeps arithmetic sane
MAX_TASK_SLOTS = 256  # nodes one task asks for: a DiLoCo run's MAX_MEMBERS
MAX_TASK_ORCHESTRATORS = 8  # orchestrators a poster may name as the only ones it trusts with its task
