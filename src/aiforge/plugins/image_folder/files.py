"""Which files of a folder are images, in a fixed order, without following links out of it.

A run's ``data_path`` (and predict's ``--input``) comes from a user: a symbolic link inside it
that leads outside the folder is refused (a DataError naming the link and where it leads),
never followed, so a run reads only what lies under the folder it was given. Links that stay
inside the folder are followed like ordinary files and folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiforge.errors import DataError
from aiforge.runtime.log import logger

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def is_image_name(path: Path) -> bool:
    """An image file by its name: a known suffix (any case), not hidden (``.DS_Store``, ``._x.png``)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def existing_folder(data_path: str | Path | None, what: str = "data_path") -> Path:
    """``data_path`` as a folder that exists, or a DataError saying what is wrong with it."""
    if data_path is None or not str(data_path).strip():
        raise DataError(f"the image_folder dataset needs {what}: a folder with one subfolder per class")
    path = Path(data_path).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise DataError(f"{what} {str(data_path)[:200]!r} is not a usable path: {err}") from None
    if not exists:
        raise DataError(f"image folder not found: {path} (looked for {path.resolve()})")
    if not is_dir:
        raise DataError(
            f"{what} {path} is a file; the image_folder dataset reads a folder with one subfolder per class"
        )
    return path


def inside(path: Path, root: Path) -> Path:
    """``path``, checked to lead (after links) to somewhere under ``root`` (already resolved)."""
    try:
        real = path.resolve()
    except (RuntimeError, OSError) as err:  # a link loop: RuntimeError before Python 3.13, then OSError
        raise DataError(f"{path} is a symbolic link that leads nowhere (a loop of links: {err})") from None
    if real != root and root not in real.parents:
        raise DataError(
            f"{path} is a link to {real}, outside {root}; links out of the image folder are not "
            "followed: copy the files in, or point data_path at the real folder"
        )
    return real


def class_folders(root: Path) -> tuple[list[Path], list[Path]]:
    """The class subfolders of ``root`` (sorted by name) and the image files lying directly in it."""
    real_root = root.resolve()
    folders, loose = [], []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            inside(entry, real_root)
            folders.append(entry)
        elif is_image_name(entry):
            loose.append(entry)
    return folders, loose


def image_files(folder: Path, root: Path | None = None) -> list[Path]:
    """Every image file under ``folder``, recursively, sorted by path; links out of ``root``
    (default: ``folder``) are refused. Hidden files and folders are skipped."""
    real_root = (root or folder).resolve()
    seen = {_identity(real_root)}  # folders read (or to be read): a link back to one is not followed
    found: list[Path] = []
    for here, dirs, files in os.walk(folder, followlinks=True):
        base = Path(here)
        inside(base, real_root)
        seen.add(_identity(base))
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            identity = _identity(base / name)
            if identity in seen:
                logger.warning(
                    f"image_folder: {base / name} leads to a folder that is already read (a link to "
                    "it, or to a folder above it); not followed, so no image is read twice or forever"
                )
                continue
            seen.add(identity)
            kept.append(name)
        dirs[:] = kept
        for name in files:
            path = base / name
            if is_image_name(path):
                if not (path.is_symlink() and not path.exists()):  # a dangling link: decoding says so
                    inside(path, real_root)
                found.append(path)
    return sorted(found)


def _identity(folder: Path) -> tuple[int, int]:
    """(device, inode) of ``folder`` after links: the same folder reached by two paths is one."""
    info = folder.stat()
    return info.st_dev, info.st_ino
