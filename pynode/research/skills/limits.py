"""Limits of the skills domain, each with its reason. Programs come from peers and LLMs: they are hostile data,
parsed and interpreted by our code under these bounds and never executed as Python."""

MAX_SL_CHARS = (
    64 * 1024
)  # the largest shipped problem (-long-repeat) is 26 KB; a problem file is parsed whole
MAX_SEXPR_TOKENS = 20_000  # a problem file has ~2,000 tokens; parsing stops long before memory matters
MAX_NUMERAL_DIGITS = (
    18  # numerals in grammars and programs are small indexes; a long one is an attack on int()
)
MAX_SEXPR_DEPTH = 16  # problem files nest 6 deep; programs nest at most this deep (refused before evaluation)
MAX_PROGRAM_CHARS = 1024  # one program's text in a config (27 of them must fit a 16 KiB config)
MAX_PROGRAM_NODES = (
    128  # hand-written univ_* solutions with ite need ~50 nodes; more is not a skill but an attack
)
MAX_LITERAL_CHARS = 64  # a string constant in a program; the grammars' own constants are at most 3 chars
MAX_STRING = (
    1024  # any intermediate string value; examples are < 100 chars, so longer means runaway concatenation
)
MAX_INT_BITS = (
    3400  # any intermediate integer (≈ 1,024 decimal digits, what str.to.int can make of MAX_STRING)
)
MAX_STEPS = 4096  # operator applications for one program on one example (bounded by nodes, checked anyway)
MAX_EVAL_DEPTH = (
    64  # parsed programs nest ≤ MAX_SEXPR_DEPTH, enumerated ones ≤ MAX_COST; this guards the rest
)
MAX_CANDIDATES = 200_000  # per problem in one search: keeps an experiment inside the task's budget_s
MAX_COST = 24  # enumeration bound on a term's cost (sum of per-operator costs)
MAX_CHOICE_CHARS = (
    32  # operator names and problem names in a config are short; longer keys are refused unread
)
MAX_SHOWN_CHARS = 40  # a refused value is quoted at most this long in an error
RESULTS_CACHE = 32  # configs whose per-problem results stay cached (the n seeds of a config share one search)
