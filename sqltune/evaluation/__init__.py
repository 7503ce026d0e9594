"""Scoring SQL by execution against a warehouse: comparison rules, error categories, the harness
that evaluates model forms, and the Markdown/HTML/JSON report."""
