"""Reading images in any mode into HxWx3 uint8 RGB, and writing files atomically.

Decoding keeps few copies of the pixels (a 9 MP photo is 26 MB as an array): Pillow's decoded
image (4 bytes a pixel) and the array, copied a band of rows at a time. The EXIF rotation is done
in place and an RGB image is not converted; numpy's array interface on a whole Pillow image would
hold the pixels twice more as bytes (Pillow's ``tobytes`` joins its chunks).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_SUFFIXES", "ImageReadError", "ImageTooLargeError", "atomic_write", "atomic_write_bytes", "decode_image",
    "encode_image", "load_image", "remove_stale_temp_files", "save_image", "to_rgb_uint8",
]  # fmt: skip

#: File suffixes treated as images when a folder is scanned.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")

#: Refuse images with more pixels than this (decompression bombs); override per call.
MAX_PIXELS = 100_000_000

#: Bytes of pixels copied from a Pillow image to the array at a time.
_BAND_BYTES = 1 << 20


_UMASK = os.umask(0)
os.umask(_UMASK)

#: The names atomic_write_bytes gives its temporary files: ``.NAME.`` + mkstemp's 8 random characters + ``.tmp``.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


class ImageReadError(ValueError):
    """An image could not be read or decoded."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than allowed (a decompression bomb, or simply too big)."""


def to_rgb_uint8(image: Image.Image | np.ndarray) -> np.ndarray:
    """Convert a PIL image or array of any common mode to HxWx3 uint8 RGB.

    Handles grey, grey+alpha, RGBA (composited on white), palette, 16-bit and
    float images; 16-bit data is scaled by its full range, not clipped.
    """
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return to_rgb_uint8(np.asarray(image))
        if image.mode == "P":
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "PA"):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        return _pixels(image if image.mode == "RGB" else image.convert("RGB"))
    array = np.asarray(image)
    if array.dtype == np.uint16:
        array = (array.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif array.dtype.kind in "iu" and array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    elif array.dtype.kind == "f":
        scale = 255.0 if array.size and float(np.nanmax(array)) <= 1.0 else 1.0
        array = np.clip(np.nan_to_num(array) * scale, 0, 255).round().astype(np.uint8)
    elif array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageReadError(f"cannot interpret an array of shape {array.shape} as an image")
    return np.ascontiguousarray(array, dtype=np.uint8)


def _pixels(image: Image.Image) -> np.ndarray:
    """An RGB Pillow image as a new HxWx3 uint8 array, copied in bands of rows (see the module's note)."""
    width, height = image.size
    rows = max(1, _BAND_BYTES // max(1, 3 * width))
    if rows >= height:
        return np.array(image, dtype=np.uint8)
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, rows):
        out[top : top + rows] = np.asarray(image.crop((0, top, width, min(top + rows, height))))
    return out


def _open(source: str | os.PathLike | bytes, max_pixels: int) -> np.ndarray:
    label = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            if im.width * im.height > max_pixels:
                raise ImageTooLargeError(
                    f"{label}: image has {im.width}x{im.height} pixels, more than the limit of {max_pixels}"
                )
            ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of an upright image
            return to_rgb_uint8(im)
    except FileNotFoundError:
        raise ImageReadError(f"{label}: image file not found") from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{label}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"{label}: not a readable image ({exc})") from None


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, applying its EXIF orientation."""
    return _open(path, max_pixels)


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, WebP, ...) as HxWx3 uint8 RGB."""
    return _open(data, max_pixels)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers never
    see a half-written file and an interrupted run leaves the old file intact."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """:func:`atomic_write_bytes` for a writer that streams into the open temporary file (an image
    encoder, say: the encoded file is never held in memory whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed process left in ``folder`` (not
    its subfolders; only names of atomic_write_bytes' pattern). Call it where no other process is
    writing, e.g. when a run starts or resumes in its own folder; returns what was removed."""
    removed = []
    for entry in Path(folder).iterdir():
        if _TEMP_NAME.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an RGB (or grey) uint8 array atomically; the format follows the suffix."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image file extension {path.suffix!r}")
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return atomic_write(path, lambda fh: picture.save(fh, format=fmt))


def encode_image(image: np.ndarray, fmt: str = "PNG") -> bytes:
    """An RGB (or grey) uint8 array as the bytes of an image file in Pillow format ``fmt``."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()
