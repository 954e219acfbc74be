"""Peer review that cannot be gamed (capability `validation`; the rules in docs/REVIEW.md).

- sortition.py: who reviews a result — ECVRF sortition per (result, epoch), verifiable from the review alone;
- reexecute.py: the reviewer's measurement — re-running the claim (reproduced / not_reproduced / unavailable);
- rubric.py: the published 1–10 score, computed from measurements and prior records only;
- reviewer.py: a validator's sans-IO core — assignments in, review bodies out;
- breakthroughs.py: the pure view — eligible and counted reviews, reviewer weights, standings, breakthroughs;
- policy.py: what a replica refuses in review records (a forged ticket);
- summary.py: the view as JSON for dashboards and as Markdown for the archive's breakthroughs/;
- critique.py: an optional LLM's written critique, folded into a review's comment, never its numbers;
- params.py, limits.py: the protocol's parameters and the tier's bounds.
"""
