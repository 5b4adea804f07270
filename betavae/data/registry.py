"""Dataset names → loaders: the one place the CLI and the training loop turn a name into images."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from betavae.errors import BetaVAEError
from betavae.lazy import resolve

if TYPE_CHECKING:  # the datasets import torch; naming a dataset or its shape (--help, --print-config) needs none
    from betavae.data.ground_truth import GroundTruthData, ImageDataset, SubsetData


class PreparedDataset(Protocol):
    """A ground-truth dataset made from files the user brings, once, with `betavae data NAME`."""

    name: str
    title: str
    bring: str  # what `betavae data NAME --from` points at
    image_shape: tuple[int, int, int]

    def prepare(self, source: str | Path | None, out_dir: str | Path | None = None, *, force: bool = False,
                progress: bool = True) -> Path: ...

    def load(self, path: str | Path | None = None, progress: bool = True) -> GroundTruthData: ...


class _Lazy(Mapping):
    """Name → lazy reference, resolved (its module imported) on first use."""

    def __init__(self, references: dict[str, str]):
        self._references, self._loaded = references, {}

    def __getitem__(self, name: str) -> PreparedDataset:
        if name not in self._loaded:
            self._loaded[name] = resolve(self._references[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._references)

    def __len__(self) -> int:
        return len(self._references)


# The benchmark datasets of the field (disentanglement_lib's study and later work); a new one is a file in data/
# and a line here.
PREPARED: Mapping[str, PreparedDataset] = _Lazy({
    "shapes3d": "betavae.data.shapes3d:SHAPES3D",
    "mpi3d-toy": "betavae.data.mpi3d:MPI3D_TOY",
    "mpi3d-realistic": "betavae.data.mpi3d:MPI3D_REALISTIC",
    "mpi3d-real": "betavae.data.mpi3d:MPI3D_REAL",
    "smallnorb": "betavae.data.smallnorb:SMALLNORB",
    "cars3d": "betavae.data.cars3d:CARS3D",
    "color-dsprites": "betavae.data.dsprites_variants:COLOR",
    "noisy-dsprites": "betavae.data.dsprites_variants:NOISY",
    "scream-dsprites": "betavae.data.dsprites_variants:SCREAM",
})
FOLDER_DATASETS = ("celeba", "chairs", "faces", "folder")
DATASETS = ("dsprites", "synthetic-squares", *PREPARED, *FOLDER_DATASETS)


def load_dataset(name: str, path: str | None = None, progress: bool = True) -> ImageDataset:
    """The dataset called ``name``; ``path``: dSprites' official .npz, a prepared cache (--out of `betavae data`)."""
    if name == "dsprites":
        from betavae.data import dsprites

        return dsprites.load(source=path, progress=progress)
    if name == "synthetic-squares":
        from betavae.data.synthetic import SyntheticSquares

        return SyntheticSquares()
    if name in PREPARED:
        return PREPARED[name].load(path, progress=progress)
    if name in FOLDER_DATASETS:
        if path is None:
            path = default_folder_cache(name)
            if not (path / "index.json").exists():
                raise BetaVAEError(f"dataset {name} has no prepared cache in {path}: run `betavae data {name} "
                                   "--from YOUR_IMAGES` first (or pass --data DIR of a cache made with --out DIR)")
        from betavae.data.images import FolderImages

        images = FolderImages.load(path)
        if name != "folder" and images.name != name:  # "folder" takes any prepared cache
            raise BetaVAEError(f"{path} holds a prepared {images.name} cache, not {name}; pass --dataset "
                               f"{images.name}, or prepare your {name} images with `betavae data {name}`")
        return images
    raise BetaVAEError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def default_folder_cache(name: str) -> Path:
    """Where `betavae data NAME` puts an image-folder cache when no --out is given."""
    from betavae.data.official import default_cache_dir

    return default_cache_dir(name)


def dataset_image_shape(name: str, path: str | None = None) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images, without loading its pixels."""
    if name in ("dsprites", "synthetic-squares"):
        return (1, 64, 64)
    if name in PREPARED:
        return PREPARED[name].image_shape
    return tuple(load_dataset(name, path).image_shape)  # folder caches are memory-mapped: cheap


def grid_subset(data: GroundTruthData, spec: str) -> SubsetData:
    """Part of a factor grid (App. A.8): ``stride:pos_x=2,pos_y=4`` keeps every k-th class of those factors;
    ``random:count=N,seed=S`` keeps N images drawn at random (the same size, without the coarser grid)."""
    from betavae.data.ground_truth import SubsetData

    kind, _, arguments = spec.strip().partition(":")
    if kind not in ("stride", "random"):
        raise BetaVAEError(f"unknown subset {spec!r}; use e.g. 'stride:pos_x=2,pos_y=2' or 'random:count=1000,seed=0'")
    options = _parse_options(spec, arguments)
    if kind == "stride":
        strides = np.ones(data.num_factors, dtype=np.int64)
        for factor, stride in options.items():
            if factor not in data.factor_names:
                raise BetaVAEError(f"bad subset {spec!r}: {factor!r} is not a factor of {data.name}; "
                                   f"factors: {list(data.factor_names)}")
            strides[data.factor_names.index(factor)] = stride
        axes = [np.arange(0, size, stride) for size, stride in zip(data.factor_sizes, strides)]
        factors = np.stack([grid.ravel() for grid in np.meshgrid(*axes, indexing="ij")], axis=1)
        indices = data.index(factors)
    elif kind == "random" and set(options) <= {"count", "seed"} and "count" in options:
        if options["count"] > data.num_images:
            raise BetaVAEError(f"bad subset {spec!r}: count exceeds the {data.num_images} images of {data.name}")
        rng = np.random.default_rng(options.get("seed", 0))
        indices = np.sort(rng.choice(data.num_images, size=options["count"], replace=False))
    else:
        raise BetaVAEError(f"unknown subset {spec!r}; use e.g. 'stride:pos_x=2,pos_y=2' or 'random:count=1000,seed=0'")
    return SubsetData(data, indices, name=f"{data.name}[{spec}]")


def _parse_options(spec: str, arguments: str) -> dict[str, int]:
    options = {}
    for item in filter(None, arguments.split(",")):
        name, _, value = item.partition("=")
        if not value.isdigit() or (int(value) < 1 and name != "seed"):
            raise BetaVAEError(f"bad subset entry {item!r} in {spec!r}: use NAME=POSITIVE_INTEGER")
        options[name.strip()] = int(value)
    return options


def load_training_data(name: str, path: str | None = None, subset: str | None = None,
                       progress: bool = True) -> ImageDataset:
    from betavae.data.ground_truth import GroundTruthData

    data = load_dataset(name, path, progress)
    if subset is None:
        return data
    if not isinstance(data, GroundTruthData):
        raise BetaVAEError(f"--subset needs a dataset with ground-truth factors; {name} has none")
    return grid_subset(data, subset)
