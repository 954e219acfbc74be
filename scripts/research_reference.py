"""Reference numbers of the search and skills domains: baselines, the tuned-BM25 reference, a hand-tuned
configuration of each, and evaluation times. Prints a table, and JSON with --json.

    python scripts/research_reference.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynode.research.search import TASK as SEARCH  # noqa: E402
from pynode.research.search import SearchDomain  # noqa: E402
from pynode.research.search.tuning import tune_bm25  # noqa: E402
from pynode.research.skills import TASK as SKILLS  # noqa: E402
from pynode.research.skills import SkillsDomain  # noqa: E402

# Hand-tuned on the tuning queries (title weight, then RM3 on top of the tuned BM25).
SEARCH_HAND = {"stopwords": "snowball", "k1": 1.5, "title_weight": 3.0, "fb_docs": 5, "fb_terms": 5}
# Operators the PBE problems rarely need left out, the largest budget, then a second run reusing what the first found.
SKILLS_HAND = {
    "max_candidates": 200_000,
    "library": True,
    "costs": dict.fromkeys(
        ["int.to.str", "str.to.int", "ite", "str.prefixof", "str.suffixof", "str.contains", "="], 0
    ),
}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def search_rows() -> dict:
    d = SearchDomain()
    base, first_s = timed(lambda: d.evaluate(SEARCH.id, d.baseline(SEARCH.id), 0))
    _, cached_s = timed(lambda: d.evaluate(SEARCH.id, d.baseline(SEARCH.id), 1))
    tuned, tune_s = timed(lambda: tune_bm25(d))
    hand, hand_s = timed(lambda: d.evaluate(SEARCH.id, SEARCH_HAND, 0))
    return {
        "baseline": base.details["ndcg10_heldout"],
        "tuned_bm25": tuned.ndcg10_heldout,
        "tuned_bm25_config": tuned.config,
        "hand_tuned": hand.details["ndcg10_heldout"],
        "hand_tuned_config": d.validate(SEARCH.id, SEARCH_HAND),
        "eval_first_s": first_s,
        "eval_cached_seed_s": cached_s,
        "eval_hand_s": hand_s,
        "grid_s": tune_s,
    }


def skills_rows() -> dict:
    d = SkillsDomain()
    base, base_s = timed(lambda: d.evaluate(SKILLS.id, d.baseline(SKILLS.id), 0))
    first, first_s = timed(lambda: d.evaluate(SKILLS.id, SKILLS_HAND, 0))
    again = d.with_programs(SKILLS.id, d.validate(SKILLS.id, SKILLS_HAND), first)
    second, second_s = timed(lambda: d.evaluate(SKILLS.id, again, 0))
    return {
        "baseline": base.details["heldout_share"],
        "baseline_problems_solved": base.details["problems_solved"],
        "hand_tuned": first.details["heldout_share"],
        "hand_tuned_with_programs": second.details["heldout_share"],
        "hand_tuned_with_programs_problems_solved": second.details["problems_solved"],
        "eval_baseline_s": base_s,
        "eval_hand_s": first_s,
        "eval_with_programs_s": second_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = {"python": sys.version.split()[0], "search": search_rows(), "skills": skills_rows()}
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
        return
    for domain, rows in (
        ("search (NDCG@10, held-out)", report["search"]),
        ("skills (held-out share)", report["skills"]),
    ):
        print(domain)
        for k, v in rows.items():
            if not isinstance(v, dict):
                print(f"  {k:42s} {v:.4f}" if isinstance(v, float) else f"  {k:42s} {v}")


if __name__ == "__main__":
    main()
