"""Training-time augmentation from the config: torchvision transforms v2 named in ``augment``.

``augment`` is a list; each entry is a transform's name, or a one-key mapping of the name to its
keyword arguments: ``[RandomHorizontalFlip, {RandomCrop: {size: 28, padding: 2}}]``. A container
transform (``RandomApply``, ``RandomChoice``, ``RandomOrder``, ``Compose``) takes its own such
list as ``transforms``. torchvision is imported only when a config names an augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aiforge.errors import ArgumentError

Spec = list[dict[str, dict[str, Any]]]

# Transforms that change what an image is (dtype, type): normalisation is the preprocessor's job.
_TYPE_CHANGING = frozenset(
    {
        "Normalize",
        "ToDtype",
        "ConvertImageDtype",
        "ToPureTensor",
        "ToImage",
        "ToTensor",
        "PILToTensor",
        "ToPILImage",
        "LinearTransformation",
    }
)


def normalised_spec(augment: object, where: str = "preprocess_args.augment") -> Spec:
    """``augment`` as a JSON-able list of ``{name: {arguments}}``; a wrong shape is an ArgumentError."""
    if augment is None:
        return []
    if not isinstance(augment, list):
        raise ArgumentError(
            f"{where} must be a list of torchvision transforms, e.g. "
            "[RandomHorizontalFlip, {RandomCrop: {size: 28, padding: 2}}], not " + repr(augment)
        )
    spec: Spec = []
    for position, entry in enumerate(augment):
        here = f"{where}[{position}]"
        if isinstance(entry, str):
            spec.append({entry: {}})
            continue
        if not (isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry)), str)):
            raise ArgumentError(f"{here} must be a transform name or {{Name: {{arguments}}}}, not {entry!r}")
        ((name, arguments),) = entry.items()
        arguments = {} if arguments is None else arguments
        if not isinstance(arguments, dict):
            raise ArgumentError(f"{here}: the arguments of {name} must be a mapping, not {arguments!r}")
        if "transforms" in arguments:
            arguments = {
                **arguments,
                "transforms": normalised_spec(arguments["transforms"], f"{here}.{name}"),
            }
        spec.append({name: arguments})
    return spec


def build(spec: Spec, where: str = "preprocess_args.augment") -> Callable[[torch.Tensor], torch.Tensor]:
    """The transforms of ``spec`` in order, as one callable on a uint8 image ``[C, H, W]``."""
    from aiforge.runtime.torchvision_import import import_torchvision

    import_torchvision("preprocess_args.augment")
    from torchvision.transforms import v2

    return v2.Compose(_transforms(spec, where, v2))


def _transforms(spec: Spec, where: str, v2: Any) -> list[Any]:
    known = sorted(
        name
        for name in dir(v2)
        if isinstance(getattr(v2, name), type)
        and issubclass(getattr(v2, name), v2.Transform)
        and not name.startswith("_")
    )
    built = []
    for position, entry in enumerate(spec):
        ((name, arguments),) = entry.items()
        here = f"{where}[{position}]"
        if name not in known:
            from aiforge.errors import did_you_mean

            raise ArgumentError(
                f"{here}: {name!r} is not a transform of torchvision.transforms.v2"
                f"{did_you_mean(name, known)}; "
                "see https://pytorch.org/vision/stable/transforms.html"
            )
        _check_usable(here, name, getattr(v2, name), v2)
        if "transforms" in arguments:
            arguments = {
                **arguments,
                "transforms": _transforms(arguments["transforms"], f"{here}.{name}", v2),
            }
        try:
            built.append(getattr(v2, name)(**arguments))
        except (TypeError, ValueError) as err:
            raise ArgumentError(f"{here}: {name}({_shown(arguments)}) is not valid: {err}") from None
    return built


def _check_usable(here: str, name: str, transform: type, v2: Any) -> None:
    """Refuse, before anything runs, the transforms that cannot augment uint8 images ``[C, H, W]``."""
    if transform.forward is v2.Transform.forward and transform.transform is v2.Transform.transform:
        raise ArgumentError(
            f"{here}: {name!r} is a base class of torchvision's transforms, not a transform; "
            "name a concrete one, e.g. RandomHorizontalFlip"
        )
    if name == "Lambda":
        raise ArgumentError(
            f"{here}: Lambda is not supported: a config names transforms, not Python code; "
            "use the named transforms of torchvision.transforms.v2"
        )
    if name in _TYPE_CHANGING:
        raise ArgumentError(
            f"{here}: {name} changes the images' type or dtype, but augmentations work on uint8 "
            "pixels and must keep them; scaling and normalisation are the preprocessor's: set "
            "preprocess_args.normalize (auto, imagenet, none) or preprocess_args.mean and std"
        )


def check_on(spec: Spec, pipeline: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> None:
    """Run ``pipeline`` once on ``images`` (uint8 ``[k, C, H, W]``, a few training images), each
    image on its own as in training, one top-level entry at a time, so that an entry which fails
    on these images, or changes their size or dtype, is an ArgumentError naming it now, at fit
    time, instead of a failed run at the first training batch."""
    steps = getattr(pipeline, "transforms", [pipeline])
    current = images
    for position, (entry, step) in enumerate(zip(spec, steps, strict=True)):
        (name,) = entry
        here = f"preprocess_args.augment[{position}] ({name})"
        try:
            out = [step(image) for image in current]
            if not all(isinstance(image, torch.Tensor) for image in out):
                found = next(type(image).__name__ for image in out if not isinstance(image, torch.Tensor))
                raise TypeError(f"it returns a {found}, not an image tensor")
            result = torch.stack(out)
        except ArgumentError:
            raise
        except Exception as err:  # whatever a transform raises on these images: the config's fault
            raise ArgumentError(
                f"{here} fails on the training images (uint8 {list(images.shape[1:])}): "
                f"{type(err).__name__}: {str(err).strip() or 'no message'}; "
                "see https://pytorch.org/vision/stable/transforms.html"
            ) from None
        if result.shape != current.shape or result.dtype != current.dtype:
            raise _changed_images(here, current, result)
        current = result


def _shown(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in arguments.items())


def apply_per_image(pipeline: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """Each image of the batch through ``pipeline`` with its own random draws (one flip per image,
    not one per batch). The result must keep the images' shape and dtype."""
    out = torch.stack([pipeline(image) for image in images]) if len(images) else images
    if out.shape != images.shape or out.dtype != images.dtype:
        raise _changed_images("preprocess_args.augment", images, out)
    return out


def _changed_images(where: str, before: torch.Tensor, after: torch.Tensor) -> ArgumentError:
    """An augmentation must keep each image's size and uint8 pixels; says what it did instead."""
    return ArgumentError(
        f"{where} turns images of shape {list(before.shape[1:])} ({before.dtype}) into "
        f"{list(after.shape[1:])} ({after.dtype}); augmentations must keep the size and the uint8 "
        "pixels: crop back to the size (RandomCrop with padding, RandomResizedCrop with size: "
        "[H, W]) and leave scaling to the preprocessor"
    )
