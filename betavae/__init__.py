"""betavae: β-VAE (Higgins et al., ICLR 2017) reproduced end to end."""

__version__ = "0.1.0"
