import numpy as np
import pytest

from betavae.data.registry import grid_subset, load_dataset, load_training_data
from betavae.data.synthetic import SyntheticSquares
from betavae.errors import BetaVAEError


def test_stride_subset_keeps_every_kth_class():
    data = SyntheticSquares(image_size=16, num_sizes=3, num_positions=8)
    subset = grid_subset(data, "stride:pos_x=2,pos_y=4")
    assert subset.num_images == 3 * 4 * 2
    factors = data.factors(subset.subset_indices)
    assert set(factors[:, 1]) == {0, 2, 4, 6} and set(factors[:, 2]) == {0, 4}
    assert np.array_equal(subset.images(np.arange(3)), data.images(subset.subset_indices[:3]))


def test_random_subset_is_seeded_and_sized():
    data = SyntheticSquares(image_size=16)
    a = grid_subset(data, "random:count=20,seed=1")
    b = grid_subset(data, "random:count=20,seed=1")
    c = grid_subset(data, "random:count=20,seed=2")
    assert a.num_images == 20 and np.array_equal(a.subset_indices, b.subset_indices)
    assert not np.array_equal(a.subset_indices, c.subset_indices)


@pytest.mark.parametrize("spec,message", [
    ("stride:colour=2", "not a factor"), ("stride:pos_x=0", "POSITIVE_INTEGER"), ("every:2", "unknown subset"),
    ("random:count=100000", "exceeds"), ("random:seed=3", "unknown subset"),
])
def test_bad_subsets(spec, message):
    with pytest.raises(BetaVAEError, match=message):
        grid_subset(SyntheticSquares(image_size=16), spec)


def test_unknown_dataset_and_folder_without_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BETAVAE_DATA_DIR", str(tmp_path))
    with pytest.raises(BetaVAEError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(BetaVAEError, match="has no prepared cache in .*chairs: run `betavae data chairs"):
        load_dataset("chairs")
    assert load_training_data("synthetic-squares", subset="stride:size=3").num_images == 64
