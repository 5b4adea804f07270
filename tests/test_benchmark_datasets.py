"""The benchmark datasets (Shapes3D, MPI3D, SmallNORB, Cars3D): each read from small files written in the exact
official layout (tests/official_files.py), index ↔ image checked on images of known content, and the bad files
refused with one line. Small grids are reached only through ``prepare(..., sizes=)``, the test hook the CLI never
passes: through `betavae data`, a small file is refused for its size."""

import gzip
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from official_files import (
    cars3d_folder,
    code_pixels,
    decode_pixels,
    mpi3d_file,
    shapes3d_file,
    smallnorb_files,
)

from betavae.cli import main
from betavae.data.official import GRID_FILE, IMAGES_FILE
from betavae.data.registry import PREPARED, load_dataset
from betavae.errors import BetaVAEError

SHAPES3D = (2, 2, 1, 2, 4, 3)
MPI3D = (2, 2, 1, 2, 1, 3, 4)
NORB = (2, 10, 2, 3, 2)  # every instance: the training and testing files hold five each
CARS = ("car_003_mesh", "car_001_mesh", "car_002_mesh")  # list.txt's order, not the names' sorted order


def _prepare(name, source, out, sizes, **options):
    return PREPARED[name].prepare(source, out, sizes=sizes, progress=False, **options)


def _prepare_refused(name, source, out, sizes, *expected):
    """Converting ``source`` is refused with an error holding every text of ``expected``."""
    with pytest.raises(BetaVAEError) as error:
        _prepare(name, source, out, sizes)
    for text in expected:
        assert text in str(error.value), error.value


def _check_index_to_image(data, decode=decode_pixels, n=40):
    factors = data.sample_factors(n, np.random.default_rng(0))
    indices = data.index(factors)
    assert (decode(data.images(indices)) == indices).all()
    assert (data.factors(indices) == factors).all()


def _refused(capsys, name, source, *expected):
    code = main(["data", name, "--from", str(source), "--quiet", "--out", str(Path(source).parent / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    return err


def test_shapes3d_rows_are_the_labelled_grid_and_values_come_from_the_labels(tmp_path):
    out = _prepare("shapes3d", shapes3d_file(tmp_path / "3dshapes.h5", SHAPES3D), tmp_path / "cache", SHAPES3D)
    data = load_dataset("shapes3d", str(out))
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert data.factor_sizes == SHAPES3D and data.image_shape == (3, 64, 64) and data.num_images == 96
    _check_index_to_image(data)
    assert np.allclose(data.factor_values("orientation"), [-30, -25.714286, -21.428571])
    assert data.describe()["official_grid"] is False and data.describe()["source_files"][0]["name"] == "3dshapes.h5"


def test_shapes3d_refuses_files_that_are_not_the_official_layout(tmp_path):
    def refused(path, *expected):
        _prepare_refused("shapes3d", path, tmp_path / "cache", SHAPES3D, *expected)

    refused(shapes3d_file(tmp_path / "shuffled.h5", SHAPES3D, shuffle=True), "not in the grid order")
    count = int(np.prod(SHAPES3D))
    refused(shapes3d_file(tmp_path / "five.h5", SHAPES3D, labels=np.zeros((count, 5))), "`labels` is float64 (96, 5)",
            "a label per factor")
    refused(shapes3d_file(tmp_path / "float.h5", SHAPES3D, images=np.zeros((count, 64, 64, 3), np.float32)),
            "`images` is float32")
    wrong_key = shapes3d_file(tmp_path / "key.h5", SHAPES3D)
    import h5py

    with h5py.File(wrong_key, "r+") as file:
        file.move("images", "imgs")
    refused(wrong_key, "has no `images` dataset", "imgs")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(shapes3d_file(tmp_path / "whole.h5", SHAPES3D).read_bytes()[:3000])
    refused(truncated, "not a readable HDF5 file")
    assert not (tmp_path / "cache" / GRID_FILE).exists()


def test_shapes3d_without_h5py_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    (tmp_path / "3dshapes.h5").touch()
    with pytest.raises(BetaVAEError, match=r"needs h5py.*pip install 'betavae\[shapes3d\]'"):
        _prepare("shapes3d", tmp_path / "3dshapes.h5", tmp_path / "cache", SHAPES3D)


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_mpi3d_rows_are_the_documented_grid(tmp_path, compressed):
    source = mpi3d_file(tmp_path / "mpi3d_toy.npz", MPI3D, compressed=compressed)
    data = load_dataset("mpi3d-toy", str(_prepare("mpi3d-toy", source, tmp_path / "cache", MPI3D)))
    assert data.factor_names[-2:] == ("horizontal_axis", "vertical_axis") and data.num_images == 96
    _check_index_to_image(data)
    # the release's own formula: index = color·(6·2·3·3·40·40) + … + horizontal·40 + vertical, here for the small grid
    bases = np.cumprod((1, *MPI3D[:0:-1]))[::-1]
    assert (data.index(np.array([[1, 1, 0, 1, 0, 2, 3]])) == bases @ [1, 1, 0, 1, 0, 2, 3]).all()


def test_mpi3d_data_command_refuses_wrong_files_with_one_line(tmp_path, capsys):
    count = int(np.prod(MPI3D))
    np.savez(tmp_path / "key.npz", imgs=np.zeros((count, 64, 64, 3), np.uint8))
    _refused(capsys, "mpi3d-toy", tmp_path / "key.npz", "has no `images` array (it holds: imgs)")
    np.savez(tmp_path / "float.npz", images=np.zeros((count, 64, 64, 3), np.float32))
    _refused(capsys, "mpi3d-toy", tmp_path / "float.npz", "float32", "(1036800, 64, 64, 3)")
    _refused(capsys, "mpi3d-toy", mpi3d_file(tmp_path / "small.npz", MPI3D), "(96, 64, 64, 3)",
             "expected mpi3d_toy.npz", "(1036800, 64, 64, 3)")
    whole = mpi3d_file(tmp_path / "whole.npz", MPI3D).read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[:len(whole) // 2])
    _refused(capsys, "mpi3d-toy", tmp_path / "cut.npz", "not a readable .npz file", "truncated")


def test_mpi3d_pickled_object_is_refused_never_unpickled(tmp_path, capsys):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    np.savez(tmp_path / "pickle.npz", images=np.array([Payload()], dtype=object))
    _refused(capsys, "mpi3d-toy", tmp_path / "pickle.npz", "pickled Python objects", "never unpickles")
    with pytest.raises(BetaVAEError, match="pickled"):
        _prepare("mpi3d-toy", tmp_path / "pickle.npz", tmp_path / "cache", MPI3D)
    assert not marker.exists()


def test_mpi3d_pre_release_file_is_named_as_such(tmp_path, capsys):
    """A 460,800-image file (4 colours × 4 shapes, disentanglement_lib's sizes): refused from its header alone."""
    path = tmp_path / "mpi3d_toy.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("images.npy", "w", force_zip64=True) as member:
        header = {"descr": "|u1", "fortran_order": False, "shape": (460_800, 64, 64, 3)}
        np.lib.format.write_array_header_1_0(member, header)
    _refused(capsys, "mpi3d-toy", path, "460,800 images: the 2019 pre-release", "6 × 6")


def test_smallnorb_joins_both_splits_keeps_the_first_image_of_each_pair_and_never_scores_the_instance(tmp_path):
    for gz in (True, False):
        folder = smallnorb_files(tmp_path / f"norb-gz{gz}", NORB, gz=gz)
        data = load_dataset("smallnorb", str(_prepare("smallnorb", folder, tmp_path / f"cache-{gz}", NORB)))
        assert data.num_images == 240 and data.image_shape == (1, 64, 64)
        _check_index_to_image(data, decode=lambda images: images[:, 0, 32, 32].astype(np.int64) - 1)  # 240 < 254
        assert data.true_factor_names == ["category", "elevation", "azimuth", "lighting"]
        assert data.nuisance_factors == ("instance",) and data.factor_values("azimuth").tolist() == [0, 20, 40]
    from betavae.representations import GroundTruthRepresentation

    assert GroundTruthRepresentation(data).codes_for_indices(np.arange(5)).shape == (5, 4)


def test_smallnorb_refuses_missing_truncated_and_mislabelled_files(tmp_path):
    def refused(folder, *expected):
        _prepare_refused("smallnorb", folder, tmp_path / "cache", NORB, *expected)

    folder = smallnorb_files(tmp_path / "missing", NORB)
    (folder / "smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat.gz").unlink()
    refused(folder, "lacks smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat")
    folder = smallnorb_files(tmp_path / "cut", NORB)
    dat = folder / "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat.gz"
    dat.write_bytes(dat.read_bytes()[:-200])
    refused(folder, "truncated")
    folder = smallnorb_files(tmp_path / "three", NORB, gz=False)
    info = folder / "smallnorb-5x46789x9x18x6x2x96x96-training-info.mat"
    rows = np.frombuffer(info.read_bytes()[20:], "<i4").reshape(-1, 4)
    info.write_bytes(np.array([0x1E3D4C54, 2, len(rows), 3, 1], "<i4").tobytes() + rows[:, :3].tobytes())
    refused(folder, "int32 (120, 3)", "expected int32 (120, 4)")
    folder = smallnorb_files(tmp_path / "odd", NORB, gz=False)
    info = folder / "smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat"
    rows = np.frombuffer(info.read_bytes()[20:], "<i4").reshape(-1, 4).copy()
    rows[7, 2] = 3
    info.write_bytes(info.read_bytes()[:20] + rows.tobytes())
    refused(folder, "row 7: azimuth 3 is odd")
    folder = smallnorb_files(tmp_path / "twice", NORB, gz=False)
    for split in ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing"):
        info = folder / f"smallnorb-{split}-info.mat"
        rows = np.frombuffer(info.read_bytes()[20:], "<i4").reshape(-1, 4).copy()
        rows[:, 0] = 4  # every row of both splits says instance 4
        info.write_bytes(info.read_bytes()[:20] + rows.tobytes())
    refused(folder, "label two images with the same")
    assert list((tmp_path / "cache").iterdir()) == []  # the truncated one was found while streaming: no file left


def test_cars3d_numbers_the_cars_in_list_txt_order(tmp_path):
    root = cars3d_folder(tmp_path / "nips2015-analogy-data", list(CARS))
    data = load_dataset("cars3d", str(_prepare("cars3d", root, tmp_path / "cache", (4, 24, 3))))
    assert data.factor_names == ("elevation", "azimuth", "object") and data.class_names["object"] == CARS
    _check_index_to_image(data)
    view = data.images(data.index(np.array([[2, 17, 0]])))  # car_003 (line 1), elevation 2, azimuth 17
    assert (view[0, :, 32, 32] == code_pixels([np.ravel_multi_index((2, 17, 0), (4, 24, 3))])[0]).all()


def test_cars3d_refuses_a_wrong_list_missing_or_broken_car_files(tmp_path):
    from scipy.io import savemat

    def refused(root, *expected):
        _prepare_refused("cars3d", root, tmp_path / "cache", (4, 24, 3), *expected)

    refused(tmp_path, "no list.txt")
    root = cars3d_folder(tmp_path / "two", list(CARS[:2]))
    refused(root, "names 2 cars, expected 3")
    root = cars3d_folder(tmp_path / "missing", list(CARS))
    (root / "data" / "cars" / "car_001_mesh.mat").unlink()
    refused(root, "lacks car_001_mesh.mat named in list.txt")
    root = cars3d_folder(tmp_path / "key", list(CARS))
    savemat(root / "data" / "cars" / "car_002_mesh.mat", {"img": np.zeros((128, 128, 3, 24, 4), np.uint8)})
    refused(root, "car_002_mesh.mat has no `im` array")
    savemat(root / "data" / "cars" / "car_002_mesh.mat", {"im": np.zeros((64, 64, 3, 24, 4), np.uint8)})
    refused(root, "`im` is uint8 (64, 64, 3, 24, 4)", "(128, 128, 3, 24, 4)")
    mat = root / "data" / "cars" / "car_002_mesh.mat"
    cars3d_folder(tmp_path / "cut", list(CARS))
    mat.write_bytes((tmp_path / "cut" / "data" / "cars" / "car_002_mesh.mat").read_bytes()[:300])
    refused(root, "car_002_mesh.mat is not a readable MATLAB file")  # found while streaming: after the first cars
    assert list((tmp_path / "cache").iterdir()) == []  # its temp file removed


def test_the_cache_is_written_once_atomically_and_respects_the_umask(tmp_path):
    source = mpi3d_file(tmp_path / "mpi3d_real.npz", MPI3D)
    out = _prepare("mpi3d-real", source, tmp_path / "cache", MPI3D)
    images, grid = out / IMAGES_FILE, out / GRID_FILE
    umask = os.umask(0o022)
    os.umask(umask)
    assert images.stat().st_mode & 0o777 == 0o666 & ~umask
    stamps = images.stat().st_mtime_ns, grid.stat().st_mtime_ns
    assert _prepare("mpi3d-real", source, out, MPI3D) == out  # the same source: nothing rewritten
    assert (images.stat().st_mtime_ns, grid.stat().st_mtime_ns) == stamps
    _prepare("mpi3d-real", source, out, MPI3D, force=True)
    assert grid.stat().st_mtime_ns != stamps[1]
    images.unlink()  # a damaged cache is rebuilt, not taken for ready
    assert load_dataset("mpi3d-real", str(_prepare("mpi3d-real", source, out, MPI3D))).num_images == 96
    whole = source.read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(BetaVAEError, match="truncated"):  # refused before anything is written
        _prepare("mpi3d-real", tmp_path / "cut.npz", out, MPI3D)
    assert load_dataset("mpi3d-real", str(out)).num_images == 96  # the cache there is untouched


def test_a_conversion_that_fails_midway_leaves_no_partial_file_and_the_old_cache_whole(tmp_path):
    folder = smallnorb_files(tmp_path / "norb", NORB, gz=False)
    out = _prepare("smallnorb", folder, tmp_path / "cache", NORB)
    dat = folder / "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat"  # the second file streamed
    dat.write_bytes(dat.read_bytes()[:-5000])
    with pytest.raises(BetaVAEError, match="testing-dat.mat is truncated: it ends inside stereo pairs 0..120"):
        _prepare("smallnorb", folder, out, NORB, force=True)
    assert sorted(path.name for path in out.iterdir()) == [GRID_FILE, IMAGES_FILE]  # no temp file left behind
    assert load_dataset("smallnorb", str(out)).num_images == 240
    (out / GRID_FILE).unlink()  # as if a conversion had been interrupted after the rename
    with pytest.raises(BetaVAEError, match=r"is incomplete \(interrupted\?\); run `betavae data smallnorb"):
        load_dataset("smallnorb", str(out))


def test_loading_refuses_a_missing_or_damaged_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BETAVAE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(BetaVAEError, match=r"holds no prepared images; run `betavae data cars3d --from PATH` first"):
        load_dataset("cars3d")
    out = _prepare("mpi3d-toy", mpi3d_file(tmp_path / "mpi3d_toy.npz", MPI3D), None, MPI3D)
    assert out == tmp_path / "data" / "mpi3d-toy" and load_dataset("mpi3d-toy").num_images == 96
    whole = (out / IMAGES_FILE).read_bytes()
    (out / IMAGES_FILE).write_bytes(whole[:len(whole) // 2])
    with pytest.raises(BetaVAEError, match=r"cannot read .*images.npy \(buffer is too small.*--force"):
        load_dataset("mpi3d-toy")
    np.save(out / IMAGES_FILE, np.zeros((95, 3, 64, 64), np.uint8))
    with pytest.raises(BetaVAEError, match=r"expected uint8\[96, 3, 64, 64\]; rebuild it with .*--force"):
        load_dataset("mpi3d-toy")
    with pytest.raises(BetaVAEError, match="not a mpi3d-real cache"):
        load_dataset("mpi3d-real", str(out))


def test_the_grid_hook_accepts_only_smaller_grids_of_the_same_factors(tmp_path):
    with pytest.raises(BetaVAEError, match=r"each between 1 and the official \[4, 24, 183\]"):
        _prepare("cars3d", tmp_path, tmp_path / "cache", (4, 25, 3))


def test_a_gzip_file_is_recognised_by_its_content_not_its_name(tmp_path):
    folder = smallnorb_files(tmp_path / "norb", NORB, gz=True)
    for path in folder.glob("*.gz"):  # gzipped files under the plain names
        path.rename(path.with_suffix(""))
    assert gzip.open(next(folder.glob("*dat.mat"))).read(4) == np.array([0x1E3D4C55], "<i4").tobytes()
    assert load_dataset("smallnorb", str(_prepare("smallnorb", folder, tmp_path / "cache", NORB))).num_images == 240


def test_every_registered_dataset_has_its_defaults_row_and_names_real_factors():
    from betavae.config import PAPER_DEFAULTS
    from betavae.data.official import OfficialGrid

    for name, entry in PREPARED.items():
        assert PAPER_DEFAULTS[name].arch == "conv" and PAPER_DEFAULTS[name].latents == 10, name
        if isinstance(entry, OfficialGrid):
            named = set(entry.continuity_factors) | set(entry.nuisance_factors) | set(entry.factor_values)
            assert named <= set(entry.factor_names) and len(entry.continuity_factors) == 2, name


def test_continuity_coarsens_the_datasets_own_transform_factors(tmp_path):
    from betavae.experiments.continuity import stride_spec, strided_factors, usable_strides

    data = load_dataset("cars3d", str(_prepare("cars3d", cars3d_folder(tmp_path / "cars", list(CARS)),
                                               tmp_path / "cache", (4, 24, 3))))
    assert strided_factors(data) == ("elevation", "azimuth")
    assert usable_strides(data, (1, 2, 4, 8)) == ([1, 2], [4, 8])  # elevation has 4 classes
    assert stride_spec(2, strided_factors(data)) == "stride:elevation=2,azimuth=2"


def test_the_continuity_experiment_plans_its_runs_on_the_datasets_own_transform_factors(tmp_path):
    from betavae.experiments.base import prepare
    from betavae.experiments.common import ExperimentContext, get_budget
    from betavae.experiments.continuity import EXPERIMENT

    cache = _prepare("cars3d", cars3d_folder(tmp_path / "cars", list(CARS)), tmp_path / "cache", (4, 24, 3))
    ctx = ExperimentContext(tmp_path / "out", get_budget("smoke"), dataset="cars3d", data_path=str(cache),
                            progress=False)
    prepare(EXPERIMENT, ctx)  # smoke: strides 1, 2, 4, 8 on one model seed; elevation's 4 classes keep 1 and 2
    subsets = {spec.name: spec.config.data.subset for spec in EXPERIMENT.runs(ctx)}
    assert subsets == {"stride1-seed0": None, "stride2-seed0": "stride:elevation=2,azimuth=2",
                       "random72-seed0": "random:count=72,seed=0"}  # 2 × 12 × 3 images kept by stride 2


def test_a_killed_conversions_temp_files_are_removed_by_the_next_one(tmp_path):
    folder = smallnorb_files(tmp_path / "norb", NORB, gz=False)
    out = tmp_path / "cache"
    out.mkdir()
    stale = [out / f".{IMAGES_FILE}.x1y2z3.tmp", out / f".{GRID_FILE}.a1b2c3.tmp"]  # what `kill -9` leaves
    for path in stale:
        path.write_bytes(b"\0" * 4096)
    _prepare("smallnorb", folder, out, NORB)
    assert not any(path.exists() for path in stale) and load_dataset("smallnorb", str(out)).num_images == 240
