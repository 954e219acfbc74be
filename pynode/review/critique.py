"""An optional written critique of a result by any OpenAI-compatible chat model, added to a review's comment.

The core only builds the messages and folds the reply into the review body; the runtime makes the HTTP call.
The critique is prose for people: the score, the verdict and the sub-scores are computed from measurements
before the model is asked (pynode.review.rubric) and `with_critique` never touches them, so two honest
reviewers still agree on every number whatever their models say. The reply is hostile text like any other:
cut to a bound, non-printable characters blanked, and the comment kept within the record's limit.
"""

from __future__ import annotations

from typing import Any

from pynode.review.limits import MAX_COMMENT, MAX_CRITIQUE, MAX_PAPER_SHOWN
from pynode.state.records import Record

PREFIX = "critique (LLM, not scored): "


def messages(result: Record, review: dict[str, Any], paper: Record | None) -> list[dict[str, str]]:
    """The chat messages asking for a short critique of `result`, given the review computed so far."""
    b = result.body
    system = (
        "You review a research result for a peer-review network. Its score is already computed from "
        "re-executed measurements; you cannot change it. In at most four sentences, point out weaknesses "
        "in the claim, the method or the paper (confounds, missing controls, over-claiming) and one "
        "follow-up experiment. Plain text only."
    )
    lines = [
        f"Task {b['task']} ({b['domain']}): {b['metric']} = {b['value']} {b['unit']}, "
        f"{'lower' if b['direction'] == 'min' else 'higher'} is better.",
        f"Hypothesis: {b.get('hypothesis', '(none stated)')}",
        f"Config: {b.get('config', '(not published)')}",
        f"Re-execution verdict: {review.get('verdict')}, measured {review.get('measured', '—')}; "
        f"rubric score {review['score']}/10, sub-scores {review.get('subscores', {})}.",
        f"Reviewer's notes: {review.get('comment', '')}",
    ]
    if paper is not None:
        lines += ["Paper (Markdown, truncated):", paper.body["markdown"][:MAX_PAPER_SHOWN]]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def with_critique(body: dict[str, Any], reply: str | None) -> dict[str, Any]:
    """`body` with the model's reply appended to its comment; every other field exactly as it was."""
    text = " ".join("".join(c if c.isprintable() else " " for c in (reply or "")[:MAX_CRITIQUE]).split())
    if not text:
        return body
    head = body.get("comment", "")
    room = MAX_COMMENT - len(head) - len(PREFIX) - (2 if head else 0)
    if room <= 0:
        return body
    comment = (f"{head}; " if head else "") + PREFIX + text[:room]
    return {**body, "comment": comment}
