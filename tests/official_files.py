"""Small files in the exact layout of each benchmark dataset's official release (keys, dtypes, shapes, factor
order, file names), with images whose pixels say which factors they show, so a test can check index ↔ image.

Nothing can be downloaded here; these writers follow the layouts documented in each loader's module docstring.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

SHAPES3D_VALUES = (np.linspace(0.0, 0.9, 10), np.linspace(0.0, 0.9, 10), np.linspace(0.0, 0.9, 10),
                   np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30.0, 30.0, 15))
NORB_INSTANCES = {"5x46789x9x18x6x2x96x96-training": (4, 6, 7, 8, 9), "5x01235x9x18x6x2x96x96-testing": (0, 1, 2, 3, 5)}


def code_pixels(index: np.ndarray) -> np.ndarray:
    """uint8[n, 3]: an index (< 2^24) written as three bytes, the colour a test image is filled with."""
    index = np.asarray(index, dtype=np.int64)
    return np.stack([index % 256, index // 256 % 256, index // 65536], axis=1).astype(np.uint8)


def decode_pixels(images: np.ndarray) -> np.ndarray:
    """The index a test image (uint8 [n, 3, H, W]) was filled with, read from its centre pixel."""
    centre = images[:, :, images.shape[2] // 2, images.shape[3] // 2].astype(np.int64)
    return centre[:, 0] + 256 * centre[:, 1] + 65536 * centre[:, 2]


def grid(sizes: tuple[int, ...]) -> np.ndarray:
    return np.indices(sizes).reshape(len(sizes), -1).T


def shapes3d_file(path: Path, sizes: tuple[int, ...], shuffle: bool = False, **overrides) -> Path:
    """DeepMind's 3dshapes.h5 layout: `images` uint8 (N, 64, 64, 3), `labels` float64 (N, 6), row-major in floor_hue,
    wall_hue, object_hue, scale, shape, orientation; image i is filled with code_pixels(i)."""
    import h5py

    classes = grid(sizes)
    if shuffle:
        classes = classes[np.random.default_rng(0).permutation(len(classes))]
    labels = np.stack([SHAPES3D_VALUES[k][classes[:, k]] for k in range(len(sizes))], axis=1)
    index = np.ravel_multi_index(classes.T, sizes)
    images = np.broadcast_to(code_pixels(index)[:, None, None, :], (len(index), 64, 64, 3))
    arrays = {"images": np.ascontiguousarray(images), "labels": labels, **overrides}
    with h5py.File(path, "w") as file:
        for key, array in arrays.items():
            file.create_dataset(key, data=array, compression="gzip")
    return path


def mpi3d_file(path: Path, sizes: tuple[int, ...], compressed: bool = False, **overrides) -> Path:
    """The MPI3D release's layout: one array `images` uint8 (N, 64, 64, 3), row-major in the seven factors;
    image i is filled with code_pixels(i)."""
    count = int(np.prod(sizes))
    images = np.broadcast_to(code_pixels(np.arange(count))[:, None, None, :], (count, 64, 64, 3))
    arrays = {"images": np.ascontiguousarray(images), **overrides}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def _binary_matrix(magic: int, array: np.ndarray) -> bytes:
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    return np.array([magic, array.ndim, *dims], dtype="<i4").tobytes() + array.tobytes()


def norb_value(index: np.ndarray) -> np.ndarray:
    """The grey value a test SmallNORB image of grid index ``index`` is filled with (distinct below 254 images)."""
    return (1 + np.asarray(index) % 254).astype(np.uint8)


def smallnorb_files(folder: Path, sizes: tuple[int, ...], gz: bool = True) -> Path:
    """NYU's six SmallNORB files (binary matrices; gzipped or not), their rows shuffled. The first image of each
    stereo pair is filled with norb_value(its grid index in category, instance, elevation, azimuth, lighting), the
    second with 255 minus that, so a loader taking the wrong image of the pair is caught."""
    folder.mkdir(parents=True, exist_ok=True)
    categories, _, elevations, azimuths, lightings = sizes
    rng = np.random.default_rng(0)
    for split, instances in NORB_INSTANCES.items():
        factors = np.array([(c, i, e, a, light) for c in range(categories) for i in instances
                            for e in range(elevations) for a in range(azimuths) for light in range(lightings)])
        factors = factors[rng.permutation(len(factors))]
        value = norb_value(np.ravel_multi_index(factors.T, sizes))
        dat = np.empty((len(factors), 2, 96, 96), dtype=np.uint8)
        dat[:, 0] = value[:, None, None]
        dat[:, 1] = (255 - value)[:, None, None]
        info = np.column_stack([factors[:, 1], factors[:, 2], 2 * factors[:, 3], factors[:, 4]]).astype("<i4")
        contents = {"dat": _binary_matrix(0x1E3D4C55, dat),
                    "cat": _binary_matrix(0x1E3D4C54, factors[:, 0].astype("<i4")),
                    "info": _binary_matrix(0x1E3D4C54, info)}
        for kind, data in contents.items():
            name = folder / f"smallnorb-{split}-{kind}.mat"
            if gz:
                name.with_name(name.name + ".gz").write_bytes(gzip.compress(data, compresslevel=1))
            else:
                name.write_bytes(data)
    return folder


def cars3d_folder(root: Path, names: list[str], elevations: int = 4, azimuths: int = 24) -> Path:
    """The nips2015-analogy-data layout: data/cars/list.txt (the cars in order) and data/cars/NAME.mat with `im`
    uint8 (128, 128, 3, 24, 4); the view (elevation e, azimuth a) of the car on line c is filled with
    code_pixels(index) of its grid index (e, a, c) in a grid of len(names) cars."""
    from scipy.io import savemat

    cars = root / "data" / "cars"
    cars.mkdir(parents=True, exist_ok=True)
    (cars / "list.txt").write_text("".join(f"{name}\n" for name in names))
    for car, name in enumerate(names):
        im = np.zeros((128, 128, 3, 24, 4), dtype=np.uint8)
        for e in range(elevations):
            for a in range(azimuths):
                index = np.ravel_multi_index((e, a, car), (elevations, azimuths, len(names)))
                im[:, :, :, a, e] = code_pixels([index])[0]
        savemat(cars / f"{name}.mat", {"im": im}, do_compression=True)
    return root
