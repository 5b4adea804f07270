"""Models: Table 1 architectures, the β-VAE and its objectives, and the trained baselines."""
