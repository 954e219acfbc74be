"""Capability services over the request/response frames (PROTOCOL.md §11; map and how-to: docs/SERVICES.md).

The framework: `codec`, `spec`, `server`, `quota`, `choose`, `receipts`, `profile`, `limits`. The services:
`inference`, `embedding/`, `memory/`, `storage/`, `proxy`, `orchestration/`, and the OpenAI-compatible API's
mapping (`openai_api`). Cores only: their asyncio drivers are in `pynode/runtime/`.
"""
