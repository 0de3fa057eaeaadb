"""Evaluation: leakage probes, figures (and, later, the paper's Methods 1 and 2)."""
