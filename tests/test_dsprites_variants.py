"""Color-, Noisy- and Scream-dSprites: dSprites' sprites in RGB, painted as disentanglement_lib defines them, each
image's colour / noise / crop a fixed function of its index (so a code cache indexed by image stays valid)."""

import numpy as np
import pytest
from PIL import Image

from betavae.cli import main
from betavae.data.dsprites import DSprites
from betavae.data.dsprites_variants import (
    PAINTING_FILE,
    ColorDSprites,
    NoisyDSprites,
    ScreamDSprites,
    load_painting,
    uniform,
)
from betavae.errors import BetaVAEError

SPRITES = DSprites.rendered()
INDICES = np.array([0, 4097, 737279, 300_000, 4097])


def _masks(indices):
    return SPRITES.images(indices)[:, 0] > 0


@pytest.mark.parametrize("kind", [ColorDSprites, NoisyDSprites])
def test_an_image_is_the_same_whatever_batch_asks_for_it(kind):
    data = kind(SPRITES)
    images = data.images(INDICES)
    assert images.shape == (5, 3, 64, 64) and images.dtype == np.uint8
    assert (images[1] == images[4]).all() and (data.images(INDICES[::-1])[::-1] == images).all()
    assert (data.images(INDICES[2:3])[0] == images[2]).all()
    assert data.factor_names == SPRITES.factor_names and data.num_images == 737_280
    assert data.metric_factor_names == ("scale", "orientation", "pos_x", "pos_y")


def test_color_dsprites_paints_each_sprite_one_colour_of_u_half_to_one_on_black():
    images = ColorDSprites(SPRITES).images(np.arange(200))
    masks = _masks(np.arange(200))
    assert (images.transpose(1, 0, 2, 3)[:, ~masks] == 0).all()  # black around every sprite
    sprite = images.transpose(1, 0, 2, 3)[:, masks]  # [3, on pixels of all images]
    assert sprite.min() >= 127 and sprite.max() <= 255
    assert all((image[:, mask].min(axis=1) == image[:, mask].max(axis=1)).all()  # one colour a sprite
               for image, mask in zip(images, masks))
    colours = np.array([image[:, mask][:, 0] for image, mask in zip(images, masks)])
    expected = np.rint(255 * (0.5 + 0.5 * uniform(np.arange(200), 0, 3)))
    assert (colours == expected).all() and colours.std(axis=0).min() > 10


def test_noisy_dsprites_adds_uniform_noise_clipped_at_white():
    images = NoisyDSprites(SPRITES).images(np.arange(50))
    masks = _masks(np.arange(50))
    assert (images.transpose(1, 0, 2, 3)[:, masks] == 255).all()
    background = images.transpose(1, 0, 2, 3)[:, ~masks].astype(np.float64) / 255
    assert abs(background.mean() - 0.5) < 0.01 and abs(background.var() - 1 / 12) < 0.005


def test_scream_dsprites_averages_a_crop_with_a_colour_and_inverts_it_under_the_sprite():
    flat = np.full((200, 300, 3), 100, np.uint8)  # a flat painting: every crop is 100/255
    images = ScreamDSprites(SPRITES, flat, "flat").images(np.arange(30)).astype(np.float64) / 255
    masks = _masks(np.arange(30))
    colour = uniform(np.arange(30), 2, 5)[:, 2:]
    background = (100 / 255 + colour) / 2
    for image, mask, value in zip(images, masks, background):
        assert np.allclose(image[:, ~mask], value[:, None], atol=0.5 / 255)
        assert np.allclose(image[:, mask], 1 - value[:, None], atol=0.5 / 255)
    gradient = np.broadcast_to((np.arange(300) % 256).astype(np.uint8)[None, :, None], (200, 300, 3))
    crops = ScreamDSprites(SPRITES, np.ascontiguousarray(gradient), "gradient").images(np.arange(30))
    assert len({int(image[0, 0, 0]) for image in crops}) > 10  # the crop moves from image to image


def test_scream_painting_is_prepared_once_from_the_users_image(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BETAVAE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(BetaVAEError, match="no prepared Scream painting.*betavae data scream-dsprites --from"):
        load_painting()
    (tmp_path / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(tmp_path / "small.png")
    for source, message in (("notes.txt", "cannot read"), ("small.png", "both sides >= 64"),
                            ("missing.jpg", "cannot read")):
        assert main(["data", "scream-dsprites", "--from", str(tmp_path / source)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (600, 463, 3), dtype=np.uint8)).save(tmp_path / "The_Scream.png")
    assert main(["data", "scream-dsprites", "--from", str(tmp_path / "The_Scream.png")]) == 0
    assert "scream-dsprites ready" in capsys.readouterr().out
    painting, _ = load_painting()
    assert painting.shape == (274, 211, 3)  # shrunk to fit 350×274, as disentanglement_lib's thumbnail
    before = (tmp_path / "data" / "scream-dsprites" / PAINTING_FILE).stat().st_mtime_ns
    assert main(["data", "scream-dsprites", "--from", str(tmp_path / "The_Scream.png")]) == 0  # prepared once
    assert (tmp_path / "data" / "scream-dsprites" / PAINTING_FILE).stat().st_mtime_ns == before
