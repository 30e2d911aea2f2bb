"""scikit-learn's digits written once as PNG files in class folders, then read by image_folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiforge.errors import DataError
from aiforge.plugins.image_folder.dataset import Dataset as ImageFolderDataset
from aiforge.runtime.log import logger

FOLDER_NAME = "digits_png"


class Dataset(ImageFolderDataset):
    """The 1,797 8x8 gray digits of scikit-learn as ``<folder>/<digit>/<n>.png``, read as an image folder.

    ``data_path`` is the folder (default: ``AIFORGE_DATA_DIR/digits_png``). When it does not
    exist yet, the PNGs are rendered there first (into a temporary folder renamed into place, so
    runs started together do not see a half-written folder); after that it is an ordinary
    ``image_folder`` folder, read with the same ``dataset_args`` (``image_size``, ``color_mode``, ...).
    Offline: the digits ship with scikit-learn.
    """

    def load_data(self, data_path: str | None = None, **dataset_args: Any) -> None:
        folder = Path(data_path).expanduser() if data_path else _default_folder()
        if not folder.exists():
            render_digits(folder)
        super().load_data(str(folder), **dataset_args)


def _default_folder() -> Path:
    from aiforge.config.settings import AppSettings

    return Path(AppSettings().DATA_DIR).expanduser() / FOLDER_NAME


def render_digits(folder: Path) -> None:
    """Write the digits as PNG files (pixel values 0..16 scaled to 0..255) under ``folder``."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as err:
        raise DataError(f"cannot write the digits PNG folder {folder}: {err}") from None
    try:
        for number, (image, label) in enumerate(zip(pixels, digits.target, strict=True)):
            target = temporary / str(int(label))
            target.mkdir(exist_ok=True)
            Image.fromarray(image, mode="L").save(target / f"{number:04d}.png")
        try:
            os.rename(temporary, folder)
        except OSError:
            if not folder.is_dir():  # not another process that finished first
                raise
    except OSError as err:
        raise DataError(f"cannot write the digits PNG folder {folder}: {err}") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    logger.info(f"digits_png: rendered {len(pixels)} digit images to {folder}")
