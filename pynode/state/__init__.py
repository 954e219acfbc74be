"""Replicated state: signed records on Loro with enforced authorship, sync, and views (leaderboards)."""
