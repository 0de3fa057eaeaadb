"""Models: CSVAE (and, later, the paper's baselines), looked up by name in `registry`."""
