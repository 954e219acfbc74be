"""GossipSub v1.1 (libp2p spec), sans-IO: the router, its RPC frame, message cache and peer scoring."""

from pynode.gossip.events import Deliver, Dial, Output, Send, Validate, ValidationResult
from pynode.gossip.params import GossipParams, PeerScoreParams, PeerScoreThresholds, TopicScoreParams
from pynode.gossip.router import Router
from pynode.gossip.rpc import RPC, Prune, SubOpt

__all__ = [
    "RPC",
    "Deliver",
    "Dial",
    "GossipParams",
    "Output",
    "PeerScoreParams",
    "PeerScoreThresholds",
    "Prune",
    "Router",
    "Send",
    "SubOpt",
    "TopicScoreParams",
    "Validate",
    "ValidationResult",
]
