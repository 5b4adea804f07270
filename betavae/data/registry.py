"""Dataset names → loaders: the one place the CLI and the training loop turn a name into images."""

from __future__ import annotations

import re

import numpy as np

from betavae.data.ground_truth import GroundTruthData, ImageDataset, SubsetData
from betavae.errors import BetaVAEError

FOLDER_DATASETS = ("celeba", "chairs", "faces", "folder")
DATASETS = ("dsprites", "synthetic-squares", *FOLDER_DATASETS)


def load_dataset(name: str, path: str | None = None) -> ImageDataset:
    """The dataset called ``name``; ``path`` is dSprites' official .npz or a prepared image folder cache."""
    if name == "dsprites":
        from betavae.data import dsprites

        return dsprites.load(source=path)
    if name == "synthetic-squares":
        from betavae.data.synthetic import SyntheticSquares

        return SyntheticSquares(image_size=64)
    if name in FOLDER_DATASETS:
        if path is None:
            raise BetaVAEError(f"dataset {name} needs --data DIR: first run `betavae data {name} --from PATH "
                               "--out DIR`, then pass that DIR")
        from betavae.data.images import FolderImages

        return FolderImages.load(path)
    raise BetaVAEError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def dataset_image_shape(name: str, path: str | None = None) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images, without loading its pixels."""
    if name in ("dsprites", "synthetic-squares"):
        return (1, 64, 64)
    return tuple(load_dataset(name, path).image_shape)  # folder caches are memory-mapped: cheap


def grid_subset(data: GroundTruthData, spec: str) -> SubsetData:
    """Keep every k-th class of some factors, e.g. ``"stride:pos_x=2,pos_y=4"`` (coarser grids, App. A.8)."""
    match = re.fullmatch(r"stride:(.+)", spec.strip())
    if not match:
        raise BetaVAEError(f"unknown subset {spec!r}; use e.g. 'stride:pos_x=2,pos_y=2'")
    strides = np.ones(data.num_factors, dtype=np.int64)
    for item in match.group(1).split(","):
        factor, _, value = item.partition("=")
        if factor not in data.factor_names or not value.isdigit() or int(value) < 1:
            raise BetaVAEError(f"bad subset entry {item!r}: use FACTOR=STRIDE with FACTOR in "
                               f"{list(data.factor_names)} and STRIDE >= 1")
        strides[data.factor_names.index(factor)] = int(value)
    grids = np.meshgrid(*[np.arange(0, size, stride) for size, stride in zip(data.factor_sizes, strides)],
                        indexing="ij")
    factors = np.stack([grid.ravel() for grid in grids], axis=1)
    return SubsetData(data, data.index(factors), name=f"{data.name}[{spec}]")


def load_training_data(name: str, path: str | None = None, subset: str | None = None) -> ImageDataset:
    data = load_dataset(name, path)
    if subset is None:
        return data
    if not isinstance(data, GroundTruthData):
        raise BetaVAEError(f"--subset needs a dataset with ground-truth factors; {name} has none")
    return grid_subset(data, subset)
