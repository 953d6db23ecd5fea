"""Data transfers: what changed since the previous run (compare), the run history (history) and findings
already explained by the data managers (triage)."""
