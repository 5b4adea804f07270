"""Image folders → cache: CelebA-, chairs- and generic-like folders built with PIL in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from betavae.config import PAPER_DEFAULTS
from betavae.data import images as images_module
from betavae.data.images import KINDS, FolderImages, prepare_images
from betavae.errors import BetaVAEError

ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def prepare(source: Path, out: Path, kind: str, **kwargs) -> FolderImages:
    prepare_images(source, out, kind, progress=False, **kwargs)
    return FolderImages.load(out)


def celeba_like_image() -> Image.Image:
    """178×218 aligned-CelebA-sized: green outside the centred 148×148 crop, blue inside, red 74×74 centre."""
    image = Image.new("RGB", (178, 218), GREEN)
    image.paste(BLUE, (15, 35, 15 + 148, 35 + 148))
    image.paste(RED, (15 + 37, 35 + 37, 15 + 37 + 74, 35 + 37 + 74))
    return image


@pytest.fixture
def celeba(tmp_path: Path) -> tuple[Path, np.ndarray]:
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    for number in range(1, 6):
        celeba_like_image().save(root / "img_align_celeba" / f"{number:06d}.jpg", quality=95, subsampling=0)
    (root / "img_align_celeba" / "000006.jpg").write_bytes(np.random.default_rng(0).bytes(2000))  # corrupt
    signs = np.where(np.random.default_rng(1).random((6, 40)) < 0.5, -1, 1)
    rows = [f"{number:06d}.jpg " + " ".join(f"{value:2d}" for value in signs[number - 1]) for number in range(1, 7)]
    (root / "list_attr_celeba.txt").write_text("6\n" + " ".join(ATTRIBUTE_NAMES) + " \n" + "\n".join(rows) + "\n")
    return root, signs


@pytest.fixture
def chairs(tmp_path: Path) -> Path:
    for chair in ("1a6f615e8b1b5ae4dbbc9440457e303e", "1a8bbf2994788e2743e99e0cae970928"):
        renders = tmp_path / "rendered_chairs" / chair / "renders"
        renders.mkdir(parents=True)
        for view in range(3):
            image = Image.new("RGB", (60, 60), WHITE)  # a 600×600 render at 1/10 scale: chair = black centre
            image.paste(BLACK, (20, 20, 40, 40))
            image.save(renders / f"image_{view:03d}_p020_t{view * 11:03d}_r096.png")
    return tmp_path


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.new("RGB", (50, 30), RED).save(root / "wide.JPEG")
    Image.new("L", (10, 300), 200).save(root / "sub" / "tall_tiny.png")
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (20, 0, 40, 40))  # left half transparent, right half opaque blue
    rgba.save(root / "sub" / "alpha.PNG")
    Image.new("RGB", (33, 33), GREEN).convert("P").save(root / "sub" / "deeper" / "palette.gif")
    Image.new("RGB", (20, 20), BLUE).save(root / "b.bmp")
    Image.new("RGB", (24, 24), RED).save(root / "w.webp")
    Image.new("RGB", (64, 64), RED).save(root / "broken.png")
    data = (root / "broken.png").read_bytes()
    (root / "broken.png").write_bytes(data[: len(data) // 2])  # truncated PNG
    (root / "._wide.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata: hidden, skipped
    (root / "notes.txt").write_text("not an image")
    return root


def test_celeba_images_attributes_and_unreadable(celeba, tmp_path, capsys):
    source, signs = celeba
    data = prepare(source, tmp_path / "out", "celeba")
    assert (data.name, data.num_images, data.image_shape) == ("celeba", 5, (3, 64, 64))
    batch = data.images(np.arange(5))
    assert batch.dtype == np.uint8 and batch.shape == (5, 3, 64, 64)
    assert data.file_names == [f"img_align_celeba/{n:06d}.jpg" for n in range(1, 6)]
    assert data.attribute_names == ATTRIBUTE_NAMES
    assert data.attributes.dtype == np.int8 and data.attributes.shape == (5, 40)
    np.testing.assert_array_equal(data.attributes, (signs[:5] > 0).astype(np.int8))  # row 6's image was unreadable
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["counts"] == {"found": 6, "decoded": 5, "unreadable": 1}
    assert [entry["file"] for entry in index["unreadable"]] == ["img_align_celeba/000006.jpg"]
    assert index["kind"] == "celeba" and index["size"] == 64 and index["channels"] == 3
    assert index["source"] == str(source.resolve()) and index["betavae_version"]
    assert "warning: 1 of 6 image files" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_celeba_crop_keeps_the_centred_148_square(celeba, tmp_path):
    image = prepare(celeba[0], tmp_path / "out", "celeba").images(np.array([0]))[0].astype(int)
    red, green, blue = image
    assert not ((green > 128) & (red < 128) & (blue < 128)).any()  # nothing outside the crop survives
    inside = slice(18, 46)  # the 74-px red square is 32 px wide at 64×64, from 16 to 48
    assert (red[inside, inside] > 200).all() and (blue[inside, inside] < 60).all()
    for corner in (image[:, :12, :12], image[:, -12:, -12:]):
        assert (corner[2] > 200).all() and (corner[0] < 60).all()  # blue background in the corners


def test_celeba_given_the_image_folder_finds_attributes_next_to_it(celeba, tmp_path):
    data = prepare(celeba[0] / "img_align_celeba", tmp_path / "out", "celeba")
    assert data.file_names[0] == "000001.jpg" and data.attributes.shape == (5, 40)


def test_chairs_grey_crop_and_chair_ids(chairs, tmp_path):
    data = prepare(chairs, tmp_path / "out", "chairs", size=32)
    assert data.image_shape == (1, 32, 32) and data.num_images == 6
    assert data.file_names[0].startswith("rendered_chairs/1a6f615e8b1b5ae4dbbc9440457e303e/renders/image_000")
    assert data.group_label == "chair"
    assert data.group_names == ["1a6f615e8b1b5ae4dbbc9440457e303e", "1a8bbf2994788e2743e99e0cae970928"]
    np.testing.assert_array_equal(data.groups, [0, 0, 0, 1, 1, 1])
    image = data.images(np.array([0]))[0, 0].astype(int)
    # the 2/3 crop (40 of 60 px) makes the 20-px chair half the frame: 16 px of 32, from 8 to 24
    assert (image[10:22, 10:22] < 40).all() and (image[:6] > 215).all() and (image[-6:] > 215).all()
    assert prepare(chairs, tmp_path / "rgb", "chairs", size=32, grayscale=False).image_shape == (3, 32, 32)


def test_generic_folder_odd_images(odd_folder, tmp_path):
    data = prepare(odd_folder, tmp_path / "out", "folder", size=16)
    expected = ["b.bmp", "sub/alpha.PNG", "sub/deeper/palette.gif", "sub/tall_tiny.png", "w.webp", "wide.JPEG"]
    assert data.file_names == expected and data.image_shape == (3, 16, 16)
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["counts"] == {"found": 7, "decoded": 6, "unreadable": 1}
    assert index["unreadable"][0]["file"] == "broken.png" and index["unreadable"][0]["error"]
    assert data.attributes is None and data.groups is None
    images = data.images(np.arange(6)).astype(int)
    alpha = images[1]
    assert (alpha[:, :, :6] > 245).all()  # transparent half composited onto white
    assert (alpha[2, :, -6:] > 245).all() and (alpha[:2, :, -6:] < 10).all()
    assert (images[2, 1] > 245).all() and (images[3] == 200).all()  # palette green; 10×300 grey
    assert (images[5, 0] > 245).all()  # the 50×30 red image
    grey = prepare(odd_folder, tmp_path / "grey", "folder", size=16, grayscale=True)
    assert grey.image_shape == (1, 16, 16)


def test_image_store_serves_floats_in_unit_range(chairs, tmp_path):
    data = prepare(chairs, tmp_path / "out", "chairs", size=16)
    batch = data.image_store(torch.device("cpu")).batch(torch.tensor([0, 5]))
    assert batch.shape == (2, 1, 16, 16) and batch.dtype == torch.float32
    assert 0.0 <= batch.min() < 0.2 and 0.8 < batch.max() <= 1.0


def test_cache_is_reused_unless_forced_or_different(chairs, tmp_path, monkeypatch):
    calls = []
    real_load = images_module.load_image
    monkeypatch.setattr(images_module, "load_image", lambda *args: calls.append(1) or real_load(*args))
    out = tmp_path / "out"
    prepare_images(chairs, out, "chairs", size=16, progress=False)
    assert len(calls) == 6
    stamp = (out / "images.npy").stat().st_mtime_ns
    assert prepare_images(chairs, out, "chairs", size=16, progress=False) == out
    assert len(calls) == 6 and (out / "images.npy").stat().st_mtime_ns == stamp
    prepare_images(chairs, out, "chairs", size=16, progress=False, force=True)
    assert len(calls) == 12
    prepare_images(chairs, out, "chairs", size=8, progress=False)
    assert len(calls) == 18 and FolderImages.load(out).image_shape == (1, 8, 8)


def test_interrupted_cache_is_reported_and_rebuilt(chairs, tmp_path):
    out = tmp_path / "out"
    prepare_images(chairs, out, "chairs", size=8, progress=False)
    (out / "index.json").unlink()
    with pytest.raises(BetaVAEError, match="incomplete"):
        FolderImages.load(out)
    assert prepare(chairs, out, "chairs", size=8).num_images == 6


def one_line_error(function, *args, match: str, **kwargs) -> str:
    with pytest.raises(BetaVAEError, match=match) as caught:
        function(*args, **kwargs)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_source_errors(tmp_path):
    out = tmp_path / "out"
    message = one_line_error(prepare_images, tmp_path / "nowhere", out, "celeba", match="does not exist")
    assert "img_align_celeba" in message  # names the fix
    (tmp_path / "a_file.jpg").write_bytes(b"x")
    one_line_error(prepare_images, tmp_path / "a_file.jpg", out, "folder", match="is a file, not a folder")
    (tmp_path / "celeba.zip").write_bytes(b"PK")
    one_line_error(prepare_images, tmp_path / "celeba.zip", out, "celeba", match="extract it first")
    (tmp_path / "empty").mkdir()
    one_line_error(prepare_images, tmp_path / "empty", out, "chairs", match="is empty")
    (tmp_path / "texts" / "sub").mkdir(parents=True)
    (tmp_path / "texts" / "sub" / "readme.txt").write_text("hi")
    message = one_line_error(prepare_images, tmp_path / "texts", out, "celeba", match="no images found under")
    assert ".jpg" in message and "--from" in message
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    one_line_error(prepare_images, tmp_path / "bad", out, "folder", match="none of the 1 image files")
    assert not (out / "images.npy").exists() and not list(out.glob(".*.tmp"))
    one_line_error(prepare_images, tmp_path / "bad", out, "mnist", match="unknown image dataset kind")
    one_line_error(prepare_images, tmp_path / "bad", out, "folder", size=0, match="integer >= 8")


def test_cache_errors(chairs, tmp_path):
    message = one_line_error(FolderImages.load, tmp_path / "missing", match="has no prepared images")
    assert "betavae data" in message and "--from" in message
    out = tmp_path / "out"
    prepare_images(chairs, out, "chairs", size=8, progress=False)
    np.save(out / "images.npy", np.zeros((2, 1, 8, 8), np.uint8))
    one_line_error(FolderImages.load, out, match="rebuild")
    (out / "index.json").write_text("{not json")
    one_line_error(FolderImages.load, out, match="corrupt")


def test_malformed_attribute_file_is_a_clear_error(celeba, tmp_path):
    source, _ = celeba
    (source / "list_attr_celeba.txt").write_text("1\n" + " ".join(ATTRIBUTE_NAMES) + "\n000001.jpg 1 -1\n")
    one_line_error(prepare_images, source, tmp_path / "out", "celeba", progress=False, match="line 3")


def test_celeba_csv_attributes(celeba, tmp_path):
    source, signs = celeba
    (source / "list_attr_celeba.txt").unlink()
    rows = [",".join(["image_id", *ATTRIBUTE_NAMES])]
    rows += [f"{n:06d}.jpg," + ",".join(str(v) for v in signs[n - 1]) for n in range(1, 7)]
    (source / "list_attr_celeba.csv").write_text("\n".join(rows) + "\n")
    data = prepare(source, tmp_path / "out", "celeba")
    np.testing.assert_array_equal(data.attributes, (signs[:5] > 0).astype(np.int8))


def test_paper_constants_cover_the_kinds():
    assert set(KINDS) <= set(PAPER_DEFAULTS)
    assert PAPER_DEFAULTS["celeba"].likelihood == "gaussian" and PAPER_DEFAULTS["celeba"].arch == "conv"
    assert {kind: PAPER_DEFAULTS[kind].beta for kind in ("celeba", "chairs", "faces")} == {
        "celeba": 250, "chairs": 5, "faces": 20}
