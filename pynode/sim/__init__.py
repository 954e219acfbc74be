"""Deterministic discrete-event simulator: many gossip routers, virtual time, latency/loss/churn models."""

from pynode.sim.link import LinkModel
from pynode.sim.simulation import Simulation, run_simulation

__all__ = ["LinkModel", "Simulation", "run_simulation"]
