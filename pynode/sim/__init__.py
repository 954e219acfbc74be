"""One deterministic discrete-event kernel (virtual time, links with latency and loss, churn) and a scenario per
subsystem on it: gossip dissemination, replicated state, DiLoCo training rounds. See sim/kernel.py."""

from pynode.sim.gossip import GossipSimulation, run_simulation
from pynode.sim.kernel import Kernel, Links
from pynode.sim.link import LinkModel
from pynode.sim.mesh import Mesh

__all__ = ["GossipSimulation", "Kernel", "LinkModel", "Links", "Mesh", "run_simulation"]
