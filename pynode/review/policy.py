"""What a replica refuses in review records beyond their schema (part of the Store's policy).

A review that carries a committee ticket must carry a *valid* one: its VRF proof must verify against its
author's key for α(target, epoch). A forged, reused or borrowed proof can only be an attack, so the update
carrying it is refused whole and its sender penalised, like a forgery. Whether a valid ticket fell below the
threshold is not checked here: that depends on the validator count, which replicas learn at different moments
(the view, pynode.review.breakthroughs, decides it from records alone). Reviews without a ticket stay valid —
they never count.
"""

from __future__ import annotations

from pynode.identity import vrf
from pynode.research.policy import check_result
from pynode.review import sortition
from pynode.state.records import Record


def check_review(record: Record, verify: sortition.VrfVerify = vrf.verify) -> None:
    """Raise ValueError when `record` is a review whose committee ticket is not its author's for its target."""
    b = record.body
    if record.kind != "review" or "vrf" not in b:
        return
    if verify(record.author, b["vrf"], sortition.alpha(b["target"], b["epoch"])) is None:
        raise ValueError("the review's VRF proof is not its author's for this result and epoch")


def check_record(record: Record) -> None:
    """The research and review policies together: what `hyperspace node` installs in its store."""
    check_result(record)
    check_review(record)
