"""Orchestration: a task board in the replicated state. DiLoCo runs and research campaigns are posted as signed
`task` records with requirements; orchestrators publish `assignment` records naming capable nodes and reassign
on churn; assigned nodes answer with `task_reply` records, taking what fits in their CPU share.

`board` (the pure view), `matching` (who can take a task), `core` (orchestrator and worker, sans-IO),
`service` (the profile entry and the `load` method); limits in `limits`. The asyncio side is
`pynode/runtime/tasks.py`; the CLI is `hyperspace tasks`.
"""
