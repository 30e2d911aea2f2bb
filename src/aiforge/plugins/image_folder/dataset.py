"""A folder of images, one subfolder per class, decoded with Pillow to uint8 ``[C, H, W]``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from aiforge.core.data_pipeline import BaseDataset, Item
from aiforge.errors import BadItemError, DataError
from aiforge.plugins.image_folder.decoding import (
    COLOR_MODES,
    ImageFormat,
    auto_color_mode,
    decode,
    probe,
)
from aiforge.plugins.image_folder.files import IMAGE_SUFFIXES, class_folders, existing_folder, image_files
from aiforge.runtime.log import logger

CACHE_LIMIT_BYTES = 1 << 30  # cache: auto keeps all images in memory up to 1 GiB of uint8 pixels
_BAD_ITEM_POLICIES = ("error", "skip")
_PROGRESS_EVERY_S = 5.0
_PILLOW_DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3  # Pillow's own default


class Dataset(BaseDataset):
    """Your own images in torchvision's ImageFolder layout: ``data_path/<class>/<image>``.

    Class names are the subfolder names, sorted (labels ``0..K-1`` in that order); each class
    folder is searched recursively for ``.png .jpg .jpeg .bmp .gif .webp`` files (any case;
    other and hidden files are ignored). A symbolic link that leads out of ``data_path`` is
    refused, never followed. ``dataset_args``:

    - ``image_size``: ``[height, width]`` or one number for square images; every image is
      resized to it (Pillow, bilinear). Default: the size of the first image.
    - ``color_mode``: ``rgb`` (3 channels), ``grayscale`` (1) or ``auto`` (default): grayscale
      when the first image is a gray one (Pillow mode L, 1, I or F), else rgb.
    - ``cache``: ``auto`` (default) decodes every image once, in ``load_data``, into one uint8
      tensor when it takes at most 1 GiB, so batches are cut by slicing; ``true`` always does,
      ``false`` never: each image is then decoded when a batch needs it (DataLoader workers help).
    - ``on_bad_item``: ``error`` (default): a file that is not a readable image is a DataError
      naming it; ``skip``: such files are left out and counted in one warning (``skipped``).

    Images are stored as uint8 ``[C, H, W]``; the plugin's Preprocessor scales and normalises them.
    """

    file_suffixes = IMAGE_SUFFIXES  # which files of a folder predict's --input reads

    def __init__(self) -> None:
        super().__init__()
        self.files: list[Path] = []
        self.labels = torch.empty(0, dtype=torch.long)
        self.images: torch.Tensor | None = None
        self.form = ImageFormat("rgb", (1, 1))
        self.skipped = 0

    @property
    def image_size(self) -> tuple[int, int]:
        return self.form.size

    @property
    def color_mode(self) -> str:
        return self.form.color_mode

    def load_data(
        self,
        data_path: str | None,
        image_size: int | Sequence[int] | None = None,
        color_mode: str = "auto",
        cache: bool | str = "auto",
        on_bad_item: str = "error",
    ) -> None:
        size = _checked_size(image_size)
        _check_choice("color_mode", color_mode, COLOR_MODES)
        _check_choice("on_bad_item", on_bad_item, _BAD_ITEM_POLICIES)
        if cache != "auto" and not isinstance(cache, bool):
            raise DataError(f"image_folder: cache must be auto, true or false, not {cache!r}")
        root = existing_folder(data_path)
        entries, self.class_names = _listed(root)
        skip = on_bad_item == "skip"
        bad: list[str] = []
        self.form, first = _format_of(entries, color_mode, size, skip, bad)
        entries = entries[first:]
        count = len(entries)
        pixels = count * self.form.channels * self.form.size[0] * self.form.size[1]
        keep = cache is True or (cache == "auto" and pixels <= CACHE_LIMIT_BYTES)
        if keep:
            entries, self.images = _decoded(entries, self.form, skip, bad, root)
        else:
            entries = _probed(entries, skip, bad)
            self.images = None
        self.files = [path for path, _ in entries]
        self.labels = torch.tensor([label for _, label in entries], dtype=torch.long)
        self.skipped = len(bad)
        self._check_classes(root)
        if bad:
            logger.warning(
                f"image_folder: skipped {len(bad)} bad image file(s) (on_bad_item: skip); first: {bad[0]}"
            )
        how = "cached in memory" if keep else "decoded per batch (cache: false or over 1 GiB)"
        logger.debug(
            f"image_folder: {root}: {len(self.files)} images, {len(self.class_names)} classes, "
            f"{self.form.color_mode} {self.form.size[0]}x{self.form.size[1]}, {how}"
        )

    def _check_classes(self, root: Path) -> None:
        assert self.class_names is not None
        present = torch.bincount(self.labels, minlength=len(self.class_names))
        for name, number in zip(self.class_names, present.tolist(), strict=True):
            if number == 0:
                raise DataError(
                    f"class folder {root / name} has no readable images left (every one was skipped)"
                )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> Item:
        features = self.images[idx] if self.images is not None else decode(self.files[idx], self.form)
        return {"features": features, "labels": self.labels[idx]}

    def as_tensors(self) -> dict[str, torch.Tensor] | None:
        if self.images is None:
            return None
        return {"features": self.images, "labels": self.labels}

    def features_from_files(self, paths: Sequence[str | Path]) -> torch.Tensor:
        """Images for predict, decoded and resized as in training: uint8 ``[N, C, H, W]``.
        A file that is not a readable image is a DataError naming it."""
        height, width = self.form.size
        if not paths:
            return torch.empty(0, self.form.channels, height, width, dtype=torch.uint8)
        return torch.stack([decode(Path(path), self.form) for path in paths])


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DataError(f"image_folder: {key} must be one of {', '.join(choices)}, not {value!r}")


def _checked_size(image_size: object) -> tuple[int, int] | None:
    """``image_size`` as (height, width): one positive whole number, or a list of two."""

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    if image_size is None:
        return None
    if whole(image_size):
        size = int(image_size), int(image_size)  # type: ignore[call-overload]
    elif isinstance(image_size, list | tuple) and len(image_size) == 2 and all(whole(v) for v in image_size):
        size = int(image_size[0]), int(image_size[1])
    else:
        raise DataError(
            f"image_folder: image_size must be [height, width] or one number of pixels, not {image_size!r}"
        )
    limit = _max_pixels()
    if size[0] * size[1] > limit:
        raise DataError(
            f"image_folder: dataset_args.image_size {list(size)} is {size[0] * size[1]:,} pixels per "
            f"image, over Pillow's limit of {limit:,} (PIL.Image.MAX_IMAGE_PIXELS, its guard against "
            "decompression bombs); every image would be resized to it. Give a smaller image_size, "
            "e.g. 224"
        )
    return size


def _max_pixels() -> int:
    """The most pixels an image_size may have: Pillow's MAX_IMAGE_PIXELS (about 89 million), or that
    default where a program has switched Pillow's check off (None)."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    return int(limit) if limit else _PILLOW_DEFAULT_MAX_PIXELS


def _listed(root: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """(file, label) for every image under the class folders, and the class names, sorted."""
    folders, loose = class_folders(root)
    layout = f"put each class's images in a subfolder named after it ({root}/<class>/<image>.png)"
    if not folders:
        found = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise DataError(f"image folder {root} has no class subfolders{found}: {layout}")
    if len(folders) == 1:
        raise DataError(
            f"image folder {root} has a single class folder {folders[0].name!r}; "
            f"classification needs at least 2: {layout}"
        )
    if loose:
        logger.warning(
            f"image_folder: {len(loose)} image file(s) directly in {root} are in no class folder and "
            f"are not used (first: {loose[0].name})"
        )
    entries: list[tuple[Path, int]] = []
    for label, folder in enumerate(folders):
        files = image_files(folder, root)
        if not files:
            raise DataError(
                f"class folder {folder} has no image files ({' '.join(IMAGE_SUFFIXES)}); "
                "remove the folder or add its images"
            )
        entries += [(path, label) for path in files]
    return entries, [folder.name for folder in folders]


def _format_of(
    entries: list[tuple[Path, int]], color_mode: str, size: tuple[int, int] | None, skip: bool, bad: list[str]
) -> tuple[ImageFormat, int]:
    """The format every image becomes, from the settings or the first readable image; and how many
    leading (bad, skipped) entries were passed over to find it."""
    for position, (path, _) in enumerate(entries):
        try:
            mode, first_size = probe(path)
        except BadItemError as err:
            if not skip:
                raise
            bad.append(str(err))
            continue
        chosen = auto_color_mode(mode) if color_mode == "auto" else color_mode
        return ImageFormat(chosen, size or first_size), position
    raise DataError(f"no readable image among {len(entries)} files (every one was skipped)")


def _decoded(
    entries: list[tuple[Path, int]], form: ImageFormat, skip: bool, bad: list[str], root: Path
) -> tuple[list[tuple[Path, int]], torch.Tensor]:
    """Every image decoded into one uint8 tensor; bad files left out (skip) or raised."""
    height, width = form.size
    images = torch.empty(len(entries), form.channels, height, width, dtype=torch.uint8)
    kept: list[tuple[Path, int]] = []
    started = last = time.monotonic()
    for position, entry in enumerate(entries):
        good, image = _read_or_skip(decode, entry[0], form, skip=skip, bad=bad)
        if not good:
            continue
        images[len(kept)] = image
        kept.append(entry)
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY_S:
            last = now
            logger.info(
                f"image_folder: decoded {position + 1}/{len(entries)} images of {root} "
                f"({now - started:.0f} s)"
            )
    return kept, images[: len(kept)] if len(kept) < len(entries) else images


def _probed(entries: list[tuple[Path, int]], skip: bool, bad: list[str]) -> list[tuple[Path, int]]:
    """The entries whose files open as images (header and checksums); for the lazy path."""
    return [entry for entry in entries if _read_or_skip(probe, entry[0], skip=skip, bad=bad)[0]]


def _read_or_skip(
    read: Callable[..., object], path: Path, *args: object, skip: bool, bad: list[str]
) -> tuple[bool, object]:
    """``(True, read(path, *args))``; for a bad image, ``(False, None)`` with the reason added to
    ``bad`` when skipping bad items, else its error."""
    try:
        return True, read(path, *args)
    except BadItemError as err:
        if not skip:
            raise
        bad.append(str(err))
        return False, None
