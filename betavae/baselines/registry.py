"""Baseline names → representations: the ones fitted in place, and the trained runs (Sec. 4.2, Fig. 6).

Fitted in place (``make_representation``): ``raw-pixels``, ``pca`` (whitened, as the paper reports), ``pca-raw``,
``ica``, ``untrained-vae``, and the floor and ceiling ``constant`` and ``ground-truth``. Trained into a run
directory (``load_run_representation``): β-VAE, VAE, InfoGAN and DC-IGN, all through their ``encode_mean``.

PCA and ICA are fitted on a seeded sample of ``FIT_SIZE`` distinct images (the whole dataset if smaller). On
dSprites, fits on 20,000 images from two seeds span the same 10-D subspace (smallest principal cosine 0.995) and
explain the same variance to within 0.1% (5,000 images: smallest cosine 0.989).

ICA: the paper fitted FastICA on the three subsets of dSprites that hold two of the three shapes, for memory
reasons, and averaged the metric over the three models (``ica_on_shape_pairs``). The default ``ica`` is one fit
on a sample of the whole dataset: a sample removes the memory problem, and one model that has seen every shape is
scored on the same images as every other representation. FastICA often stops at ``max_iter`` on dSprites (20,000
images: seed 0 converges after 654 iterations, seeds 1 and 2 not within 1,000; of the three shape-pair fits one
converges); ``info["converged"]`` says which, and the codes are kept either way.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from betavae.baselines.linear import PixelICA, PixelPCA, RawPixels
from betavae.config import ModelConfig
from betavae.config_common import check_seed
from betavae.data.ground_truth import GroundTruthData, ImageDataset
from betavae.errors import BetaVAEError
from betavae.models.vae import BetaVAE
from betavae.representations import (
    ConstantRepresentation,
    GroundTruthRepresentation,
    ModelRepresentation,
    Representation,
)
from betavae.runs import RunDir, load_model

FIT_SIZE = 20_000
N_COMPONENTS = 10  # App. A.3


def fit_sample(data: ImageDataset, size: int, seed: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """uint8 images of ``size`` distinct indices drawn with ``seed`` from ``candidates`` (default: all)."""
    if size < 1:
        raise BetaVAEError(f"fit_size must be >= 1, got {size}")
    candidates = np.arange(data.num_images) if candidates is None else np.asarray(candidates)
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(candidates, size=min(size, len(candidates)), replace=False))
    return data.images(indices)


def raw_pixels(data: ImageDataset, seed: int) -> RawPixels:
    return RawPixels().fit()


def pca(data: ImageDataset, seed: int, fit_size: int = FIT_SIZE, n_components: int = N_COMPONENTS,
        whiten: bool = True) -> PixelPCA:
    return PixelPCA(n_components, whiten=whiten, seed=seed).fit(fit_sample(data, fit_size, seed))


def pca_raw(data: ImageDataset, seed: int, fit_size: int = FIT_SIZE, n_components: int = N_COMPONENTS) -> PixelPCA:
    return pca(data, seed, fit_size, n_components, whiten=False)


def ica(data: ImageDataset, seed: int, fit_size: int = FIT_SIZE, n_components: int = N_COMPONENTS,
        max_iter: int = 1000) -> PixelICA:
    return PixelICA(n_components, seed=seed, max_iter=max_iter).fit(fit_sample(data, fit_size, seed))


def has_shape_pairs(data: ImageDataset) -> bool:
    """Whether App. A.3's ICA protocol applies: a ground-truth 'shape' factor with at least two shapes."""
    return (isinstance(data, GroundTruthData) and "shape" in data.factor_names
            and data.factor_sizes[data.factor_names.index("shape")] >= 2)


def ica_on_shape_pairs(data: GroundTruthData, seed: int = 0, fit_size: int = FIT_SIZE,
                       n_components: int = N_COMPONENTS, max_iter: int = 1000) -> list[PixelICA]:
    """App. A.3, the paper's protocol: one ICA per pair of object shapes, each fitted on images of those two only.

    The metric is then averaged over the returned models (three for dSprites), each scored on the whole
    dataset (all shapes: shape is never a metric label, and one set of points serves every model).
    """
    if not has_shape_pairs(data):
        raise BetaVAEError(f"the shape-pair ICA protocol needs a ground-truth dataset with a 'shape' factor of "
                           f">= 2 shapes (else use the representation 'ica'); "
                           f"{data.name} has factors {list(getattr(data, 'factor_names', []))}")
    column = data.factor_names.index("shape")
    shapes = data.factors(np.arange(data.num_images))[:, column]
    models = []
    for pair in itertools.combinations(range(data.factor_sizes[column]), 2):
        images = fit_sample(data, fit_size, seed, candidates=np.flatnonzero(np.isin(shapes, pair)))
        model = PixelICA(n_components, seed=seed, max_iter=max_iter).fit(images)
        model.name = f"ica-shapes-{pair[0]}-{pair[1]}"
        model.info["shapes"] = list(pair)
        models.append(model)
    return models


def untrained_vae(data: ImageDataset, seed: int, latents: int = 10, device: str | torch.device = "cpu"
                  ) -> ModelRepresentation:
    """The 2D-shapes β-VAE (Table 1, MLP) at its random initialisation: the draw ``train`` makes with ``seed``."""
    config = ModelConfig(arch="mlp", latents=latents, likelihood="bernoulli", image_shape=tuple(data.image_shape))
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
        torch.manual_seed(seed)
        model = BetaVAE(config)
    representation = ModelRepresentation("untrained-vae", model.to(device), device)
    representation.info = {"seed": seed, "arch": "mlp", "latents": latents}
    return representation


def ground_truth(data: ImageDataset, seed: int) -> GroundTruthRepresentation:
    """The factors one-hot coded: 100% on the metric and a linear read-out of every class for Table 2."""
    if not isinstance(data, GroundTruthData):
        raise BetaVAEError(f"the ground-truth representation needs a dataset with factors; {data.name} has none")
    return GroundTruthRepresentation(data, one_hot=True)


def constant(data: ImageDataset, seed: int, dim: int = 10) -> ConstantRepresentation:
    return ConstantRepresentation(dim)


BUILDERS: dict[str, Callable[..., Representation | list[Representation]]] = {
    "raw-pixels": raw_pixels, "pca": pca, "pca-raw": pca_raw, "ica": ica, "ica-pairs": ica_on_shape_pairs,
    "untrained-vae": untrained_vae,
    "ground-truth": ground_truth, "constant": constant,
}
REPRESENTATION_NAMES = tuple(BUILDERS)


def make_representation(name: str, data: ImageDataset, seed: int = 0, **options
                        ) -> Representation | list[Representation]:
    """The baseline called ``name``, fitted on a seeded sample of ``data`` where it needs fitting (``ica-pairs``:
    the paper's three models, whose evaluations are averaged)."""
    builder = BUILDERS.get(name)
    if builder is None:
        raise BetaVAEError(f"unknown representation {name!r}; choose one of: {', '.join(REPRESENTATION_NAMES)} "
                           "(trained models: evaluate their run directory)")
    accepted = [option for option in inspect.signature(builder).parameters if option not in ("data", "seed")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise BetaVAEError(f"representation {name!r} has no option(s) {unknown}; "
                           f"it accepts: {', '.join(accepted) or 'none'}")
    check_seed(seed, "--seed")
    return builder(data, seed, **options)


def load_run_representation(run_dir: str | Path, device: str | torch.device = "auto",
                            step: int | None = None) -> ModelRepresentation:
    """A trained run's ``encode_mean`` (β-VAE/VAE/DC-IGN: μ(x); InfoGAN: Q's estimate of c): its latest
    checkpoint, or with ``step`` the weights it kept at that step (``train.keep_steps``); ``device`` "auto"
    (CUDA if visible, as ``evaluate_run``), "cpu", "cuda" or a torch.device."""
    from betavae.train import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    config, model = load_model(run_dir, device, step)
    representation = ModelRepresentation(config.model_type, model, device)
    run = RunDir(run_dir)
    representation.info = {"run_dir": str(run_dir), "model_type": config.model_type,
                           "state": run.status().get("state") if step is None else "kept",
                           "step": run.checkpoint_step() if step is None else step}
    return representation
