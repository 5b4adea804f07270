"""Cars3D (Reed, Zhang, Zhang & Lee 2015, "Deep Visual Analogy-Making", NeurIPS; renders of Fidler et al.'s
2012 CAD models).

183 car models rendered at 4 elevations × 24 azimuths: the ``nips2015-analogy-data`` folder holds
``data/cars/car_NNN_mesh.mat``, one MATLAB file per car whose ``im`` is uint8 128×128×3×24×4 (height, width,
RGB, azimuth, elevation), and ``data/cars/list.txt``, the car files' names in order. Each image is
Lanczos-resized to 64×64.

The choice, where the two reference loaders differ: the **object order**. disentanglement_lib numbers the
cars in the order its directory listing returns the ``.mat`` files, which is arbitrary (it differs between
filesystems, so "object 17" is not the same car on two machines); disent numbers them in the order of
``list.txt``, which ships with the data. betavae follows ``list.txt`` and keeps the names (class names of
``object``). Both loaders agree on the rest: factors elevation 4, azimuth 24, object 183, in that order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from betavae.data.official import OfficialGrid, Reading, downscale
from betavae.errors import BetaVAEError

FACTOR_NAMES = ("elevation", "azimuth", "object")
FACTOR_SIZES = (4, 24, 183)
MESH_SHAPE = (128, 128, 3, 24, 4)
_HINT = "point --from at the nips2015-analogy-data folder (or its data/cars), which holds list.txt and car_*_mesh.mat"


def _cars_folder(source: Path) -> Path:
    for folder in (source / "data" / "cars", source / "cars", source):
        if (folder / "list.txt").is_file():
            return folder
    raise BetaVAEError(f"no list.txt in {source}, {source / 'cars'} or {source / 'data' / 'cars'}; {_HINT}")


def read(source: Path, sizes: tuple[int, ...]) -> Reading:
    """Validate list.txt and the presence of every car file it names; stream each car's 96 images to their rows."""
    folder = _cars_folder(source if source.is_dir() else source.parent)
    try:
        names = [line.strip().removesuffix(".mat") for line in (folder / "list.txt").read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise BetaVAEError(f"cannot read {folder / 'list.txt'} ({exc}); {_HINT}") from None
    names = [name for name in names if name]
    if len(names) != sizes[2]:
        raise BetaVAEError(f"{folder / 'list.txt'} names {len(names)} cars, expected {sizes[2]}; {_HINT}")
    if len(set(names)) != len(names):
        twice = next(name for n, name in enumerate(names) if name in names[:n])
        raise BetaVAEError(f"{folder / 'list.txt'} names {twice} twice; {_HINT}")
    missing = [name for name in names if not (folder / f"{name}.mat").is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BetaVAEError(f"{folder} lacks {missing[0]}.mat{more} named in list.txt; {_HINT}")
    files = [folder / f"{name}.mat" for name in names]
    return Reading(files, _chunks(files, sizes), {"class_names": {"object": names}})


def _mesh(path: Path) -> np.ndarray:
    from scipy.io import loadmat  # scipy ships with scikit-learn

    try:
        contents = loadmat(path, variable_names=["im"])
    except Exception as exc:  # scipy raises many types on a bad file; every one means "not a readable .mat"
        raise BetaVAEError(f"{path} is not a readable MATLAB file: it is truncated, corrupt or of another version "
                           f"({type(exc).__name__}: {exc}); {_HINT}") from None
    if "im" not in contents:
        raise BetaVAEError(f"{path} has no `im` array; expected Cars3D's uint8 {MESH_SHAPE} renders")
    mesh = contents["im"]
    if mesh.dtype != np.uint8 or mesh.shape != MESH_SHAPE:
        raise BetaVAEError(f"{path}: `im` is {mesh.dtype} {mesh.shape}; expected uint8 {MESH_SHAPE} (height, width, "
                           "RGB, azimuth, elevation)")
    return mesh


def _chunks(files: list[Path], sizes: tuple[int, ...]):
    elevations, azimuths = sizes[0], sizes[1]
    for car, path in enumerate(files):
        # im[..., a, e] → (e, a) order, elevation slowest, the grid's own
        views = _mesh(path)[:, :, :, :azimuths, :elevations].transpose(4, 3, 0, 1, 2).reshape(-1, 128, 128, 3)
        grid = np.indices((elevations, azimuths)).reshape(2, -1)
        yield np.ravel_multi_index((*grid, np.full(grid.shape[1], car)), sizes), downscale(views)


CARS3D = OfficialGrid(
    name="cars3d", title="Cars3D (Reed et al. 2015)", bring=_HINT,
    factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES, channels=3, read=read,
    continuity_factors=("elevation", "azimuth"))
