"""The paper's baselines as representations (Sec. 4.2, App. A.2-A.3): pixels, PCA, ICA, an untrained VAE, and the
runs of the trained ones (VAE, InfoGAN, DC-IGN)."""

from betavae.baselines.linear import PixelBaseline, PixelICA, PixelPCA, RawPixels, pixels
from betavae.baselines.registry import (
    FIT_SIZE,
    REPRESENTATION_NAMES,
    fit_sample,
    ica_on_shape_pairs,
    load_run_representation,
    make_representation,
    untrained_vae,
)

__all__ = ["FIT_SIZE", "REPRESENTATION_NAMES", "PixelBaseline", "PixelICA", "PixelPCA", "RawPixels", "fit_sample",
           "ica_on_shape_pairs", "load_run_representation", "make_representation", "pixels", "untrained_vae"]
