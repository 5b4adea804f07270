"""Figures: reconstructions, samples, traversals, latent-factor maps, and the report writer."""
