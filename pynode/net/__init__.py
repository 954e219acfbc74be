"""Connections between peers (PROTOCOL.md §2–§4).

Sans-IO machines: `handshake` (hs1/hs2/hs3), `peers` (whom to dial, ban, answer, go direct with), `reqresp`
(request ids, in-flight limits, deadlines), `relay_proto` and `chunks` (frames). Their asyncio side: `links`
(circuits, data channels, send queues), `requests`, `relay_client`, `connection`/`circuit`/`direct`.
Limits are in `limits`.
"""
