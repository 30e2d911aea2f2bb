"""Building a torchvision model offline, and loading a user's state dict into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiforge.errors import CheckpointError
from aiforge.runtime.log import logger
from aiforge.runtime.torchvision_import import import_torchvision


def classification_models() -> list[str]:
    """Names of torchvision's image classification models (not detection or segmentation)."""
    torchvision = import_torchvision("model_plugin torchvision_model")
    return list(torchvision.models.list_models(module=torchvision.models))


_REFUSED_ARGS = {
    "num_classes": "is filled from the data (the number of classes); set model_config.output_dim "
    "to override it",
    "weights": "would download pretrained weights, and AIForge never downloads; set "
    "model_config.weights_file to a local .pth file instead",
    "weights_backbone": "would download pretrained weights, and AIForge never downloads; set "
    "model_config.weights_file to a local .pth file instead",
}


def accepted_args(name: str) -> set[str]:
    """The keyword arguments torchvision's builder for ``name`` takes: its own, and (where it
    passes ``**kwargs`` on) those of the model class it returns."""
    import inspect
    import typing

    torchvision = import_torchvision("model_plugin torchvision_model")
    builder = torchvision.models.get_model_builder(name)
    own = inspect.signature(builder).parameters.values()
    accepted = {p.name for p in own if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    if any(p.kind is p.VAR_KEYWORD for p in own):
        built = typing.get_type_hints(builder).get("return")
        if isinstance(built, type):
            # All named ones: some builders take a required one from kwargs (vit's image_size);
            # one a builder sets itself (resnet's layers) fails in build(), still an ArgumentError.
            for p in inspect.signature(built.__init__).parameters.values():
                if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                    accepted.add(p.name)
    return accepted


def check_model_args(name: str, model_args: dict[str, Any]) -> None:
    """``model_args`` checked against the builder's signature: an ArgumentError naming
    ``model_config.model_args.<key>`` for a key it does not take, or one AIForge sets itself."""
    from aiforge.errors import ArgumentError, did_you_mean

    accepted: set[str] | None = None
    for key in model_args:
        where = f"model_config.model_args.{key}"
        if key in _REFUSED_ARGS:
            raise ArgumentError(f"{where}: {key} is not allowed here: it {_REFUSED_ARGS[key]}")
        accepted = accepted_args(name) if accepted is None else accepted
        usable = sorted(accepted - set(_REFUSED_ARGS) - {"progress"})
        if key not in accepted:
            raise ArgumentError(
                f"{where}: {name} takes no argument {key!r}{did_you_mean(key, usable)}; "
                f"it takes: {', '.join(usable) or 'none'}"
            )


def build(name: str, num_classes: int, model_args: dict[str, Any]) -> Any:
    """The architecture with random weights: ``weights=None`` never downloads."""
    from aiforge.errors import ArgumentError

    check_model_args(name, model_args)
    torchvision = import_torchvision("model_plugin torchvision_model")
    try:
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **model_args)
    except (TypeError, ValueError) as err:
        if not model_args:
            raise
        raise ArgumentError(
            f"model_config.model_args {model_args!r}: torchvision's {name} refuses them: "
            f"{type(err).__name__}: {err}"
        ) from None


def head_of(network: Any, num_classes: int) -> str | None:
    """Name of the last Linear (or 1x1 Conv2d, as in SqueezeNet) giving ``num_classes`` outputs."""
    from torch import nn

    found = None
    for name, module in network.named_modules():
        outputs = getattr(module, "out_features", getattr(module, "out_channels", None))
        if isinstance(module, (nn.Linear, nn.Conv2d)) and outputs == num_classes:
            found = name
    return found


def read_state_dict(path: str) -> dict[str, Any]:
    """The tensors of a ``.pth`` file (also inside a ``state_dict``/``model_state_dict`` entry)."""
    import torch

    file = Path(path)
    if not file.is_file():
        raise CheckpointError(
            f"model_config.weights_file: no file at {file}; give the path of a saved state dict "
            "(torch.save(model.state_dict(), PATH))"
        )
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"model_config.weights_file {file} cannot be read as a PyTorch state dict "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    for key in ("state_dict", "model_state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if (
        not isinstance(loaded, dict)
        or not loaded
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items())
    ):
        raise CheckpointError(
            f"model_config.weights_file {file} holds a {type(loaded).__name__}, not a state dict "
            "(a mapping of parameter names to tensors, as model.state_dict() returns)"
        )
    return loaded


def load_weights(network: Any, path: str, name: str, num_classes: int, skip: tuple[str, ...] = ()) -> None:
    """Load ``path`` into ``network``; only the classifier head (and ``skip`` prefixes) may differ."""
    state = read_state_dict(path)
    own = network.state_dict()
    head = head_of(network, num_classes)
    allowed = tuple(p for p in (f"{head}." if head else None, *skip) if p)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and state[k].shape != own[k].shape]
    wrong = [k for k in missing + unexpected + resized if not k.startswith(allowed)]
    if wrong:
        shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise CheckpointError(
            f"model_config.weights_file {path} does not fit torchvision model {name!r}: "
            f"{len(wrong)} parameter(s) missing, unexpected or of another shape ({shown}). "
            "Is it the state dict of another architecture? Set model_config.name to the model it was "
            "saved from"
        )
    dropped = [k for k in resized + unexpected if k.startswith(allowed)]
    kept = {k: v for k, v in state.items() if k in own and k not in dropped}
    network.load_state_dict({**own, **kept})
    if dropped:
        layers = ", ".join(sorted({key.rsplit(".", 1)[0] for key in dropped}))
        logger.info(
            f"torchvision_model: loaded {path} except {layers} "
            f"(new classifier head for {num_classes} classes, or first conv for another channel count)"
        )
