"""One image file to a uint8 tensor ``[C, H, W]`` with Pillow: the same code for every path
(cached, lazy, predict), so each gives exactly the same pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aiforge.errors import BadItemError

COLOR_MODES = ("auto", "rgb", "grayscale")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F")
_PILLOW_MODE = {"rgb": "RGB", "grayscale": "L"}
_WIDE_INTEGER_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True)
class ImageFormat:
    """What every image becomes: ``color_mode`` rgb or grayscale, and ``size`` (height, width)."""

    color_mode: str
    size: tuple[int, int]

    @property
    def channels(self) -> int:
        return 3 if self.color_mode == "rgb" else 1


def _open(path: Path):  # -> PIL.Image.Image
    from PIL import Image, UnidentifiedImageError

    if path.is_symlink() and not path.exists():
        raise BadItemError(
            f"{path} is a symbolic link that leads nowhere (a loop, or a link to a missing file); "
            "remove it or point it at an image"
        )
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise BadItemError(f"{path}: not an image Pillow can read") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise BadItemError(f"{path}: cannot be read as an image: {err}") from None


def probe(path: Path) -> tuple[str, tuple[int, int]]:
    """The file's Pillow mode and (height, width), from its header; checked whole where the format
    allows (Pillow's ``verify``: a PNG's chunks and checksums), without decoding the pixels."""
    from PIL import Image

    with _open(path) as image:
        mode, (width, height) = image.mode, image.size
        try:
            image.verify()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise BadItemError(f"{path}: damaged or truncated image: {err}") from None
    return mode, (height, width)


def auto_color_mode(pillow_mode: str) -> str:
    """grayscale for a gray image (L, 1, I, F), rgb for every other mode."""
    return "grayscale" if pillow_mode in _GRAY_MODES else "rgb"


def _eight_bit(image):  # PIL.Image.Image -> PIL.Image.Image
    """A 16-bit (I;16*) or 32-bit integer (I) gray image as 8-bit L, its values scaled: Pillow's
    ``convert`` would clip every value above 255 to white. Integer images are read as 16-bit
    values (what 16-bit PNG and TIFF files give): 0-65535 become 0-255 (the top 8 bits), values
    outside that range are clipped to it. Other modes are returned as they are."""
    if image.mode not in _WIDE_INTEGER_MODES:
        return image
    from PIL import Image

    values = np.asarray(image).astype(np.int64)
    return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8), mode="L")


def decode(path: Path, form: ImageFormat) -> torch.Tensor:
    """The image at ``path`` converted to ``form.color_mode``, resized to ``form.size`` (Pillow's
    bilinear filter, which also smooths when shrinking), as uint8 ``[C, H, W]``."""
    from PIL import Image

    height, width = form.size
    with _open(path) as image:
        try:
            image.load()
            converted = _eight_bit(image).convert(_PILLOW_MODE[form.color_mode])
            if converted.size != (width, height):
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise BadItemError(f"{path}: damaged or truncated image: {err}") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy())  # a copy: Pillow's buffer is read-only
