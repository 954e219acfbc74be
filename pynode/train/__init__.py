"""Training: model graphs, runners, solo runs, DiLoCo, compression and aggregation."""
