"""Reports a person opens: the self-contained HTML report of a run (html.py)."""
