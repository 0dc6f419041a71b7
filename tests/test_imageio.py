"""Images load as HxWx3 uint8 RGB whatever their mode; writes are atomic."""

import numpy as np
import pytest
from PIL import Image

from facepoints.imageio import ImageReadError, atomic_write_bytes, decode_image, load_image, save_image


def _rgb(h=20, w=30):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA", "I;16", "I", "F", "1", "CMYK"])
def test_any_mode_becomes_rgb_uint8(tmp_path, mode):
    base = Image.fromarray(_rgb())
    if mode == "I;16":
        im = Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257)
    elif mode in ("I", "F"):
        im = base.convert("L").convert(mode)
    else:
        im = base.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("I;16", "I", "F", "CMYK") else "x.png")
    im.save(path)
    out = load_image(path)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    if mode in ("L", "I;16"):  # grey values must survive, 16-bit scaled by its full range
        assert np.abs(out[..., 0].astype(int) - np.asarray(base.convert("L"), int)).max() <= 1


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert (load_image(tmp_path / "a.png") == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :10] = 255  # left half white
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "r.jpg")
    assert out.shape[:2] == (20, 10)
    assert out[:10].mean() > 200 and out[10:].mean() < 50  # the white half is now on top


def test_unreadable_and_missing_files_raise_clearly(tmp_path):
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="t.png: not a readable image"):
        load_image(tmp_path / "t.png")
    with pytest.raises(ImageReadError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError):
        decode_image(b"\x89PNG\r\n\x1a\n garbage")


def test_pixel_limit(tmp_path):
    Image.fromarray(_rgb(100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="more than the limit"):
        load_image(tmp_path / "big.png", max_pixels=5000)


def test_save_roundtrip_and_atomic_write(tmp_path):
    img = _rgb()
    path = save_image(tmp_path / "sub" / "o.png", img)
    assert np.array_equal(load_image(path), img)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    atomic_write_bytes(tmp_path / "f.txt", b"new")
    assert (tmp_path / "f.txt").read_bytes() == b"new"
    with pytest.raises(ValueError, match="extension"):
        save_image(tmp_path / "o.unknown", img)


def test_large_images_are_copied_in_bands_with_the_same_pixels(tmp_path, monkeypatch):
    from facepoints import imageio

    img = np.random.default_rng(1).integers(0, 256, (203, 37, 3), dtype=np.uint8)
    path = save_image(tmp_path / "tall.png", img)
    monkeypatch.setattr(imageio, "_BAND_BYTES", 37 * 3 * 10 + 5)  # bands of 10 rows, the last one short
    out = load_image(path)
    assert np.array_equal(out, img) and out.flags.c_contiguous and out.flags.writeable


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_rotation_in_place_matches_pillows_copy(tmp_path, orientation):
    from PIL import ImageOps

    im = Image.fromarray(np.random.default_rng(orientation).integers(0, 256, (24, 40, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "o.jpg") as opened:
        want = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    assert np.array_equal(load_image(tmp_path / "o.jpg"), want)


def test_save_streams_the_encoded_file_and_leaves_nothing_on_failure(tmp_path):
    from facepoints.imageio import encode_image

    img = _rgb()
    assert save_image(tmp_path / "o.png", img).read_bytes() == encode_image(img, "PNG")
    with pytest.raises(OSError, match="cannot write mode LA as JPEG"):  # fails while writing the file
        save_image(tmp_path / "bad.jpg", np.zeros((4, 4, 2), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]
