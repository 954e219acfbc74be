"""What the router asks of its runtime: frames to send, messages to validate or deliver, peers to dial."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pynode.gossip.rpc import RPC
from pynode.wire.envelope import Envelope


class ValidationResult(Enum):
    """The application's verdict on a message (v1.1 "Extended Validators")."""

    ACCEPT = "accept"  # deliver and forward
    REJECT = "reject"  # invalid: drop and penalise the peers that delivered it (P4)
    IGNORE = "ignore"  # drop without penalty (e.g. stale but honest)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs several times more, and Send is the hot path
class Send:
    """Send an RPC to a peer."""

    peer: bytes
    rpc: RPC


@dataclass(frozen=True, slots=True)
class Validate:
    """A new message awaits validation; answer with `Router.report_validation(msg_id, ...)`."""

    msg_id: bytes
    envelope: Envelope
    source: bytes  # the peer that delivered it first


@dataclass(frozen=True, slots=True)
class Deliver:
    """A valid message for a topic we subscribe to."""

    envelope: Envelope
    source: bytes


@dataclass(frozen=True, slots=True)
class Dial:
    """Peer exchange named a peer we are not connected to."""

    peer: bytes


Output = Send | Validate | Deliver | Dial
