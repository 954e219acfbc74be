"""Presence and points (docs/POINTS.md; wire formats in docs/PROTOCOL.md §10).

- params.py, limits.py: the protocol's parameters (every node must agree) and the tier's bounds;
- task.py: the compute challenge — a matrix product per (seed, peer id), its Merkle commitment, the picked rows;
- messages.py: the pulse topic's messages; chain.py: seeds, VRF inputs, a node's view of the chain;
- round.py, leader.py, cosigner.py, core.py: the sans-IO pulse core — a round's state, a leader's attempt,
  a committee member's judgement, and the state machine that times them;
- certificate.py: certificates — their body, digest, committee and quorum, and the checks anyone can run;
- membership.py: operator keys and relay-attested origins, and the groups they make;
- admission.py: which certificates a replica stores and who pays for them (the chain, not the leader);
- ledger.py: the points view over certificates, recomputable by anyone.
"""
