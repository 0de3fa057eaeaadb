"""Models: CSVAE (csvae.py) and the paper's baselines VAE, CondVAE, CondVAE-info, looked up by name in `registry`."""
