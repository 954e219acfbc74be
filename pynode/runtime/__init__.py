"""Runtimes: the asyncio drivers that attach a sans-IO core to a running Node (its replica, DiLoCo, the research
agent, …). Cores never import this package or `pynode.node`; a runtime hands its core parsed, validated values."""
