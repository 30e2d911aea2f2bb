"""torchvision for the image plugins: imported on first use, with a clear message when it is missing.

torchvision is the optional extra ``aiforge[vision]`` and must match the installed torch
(torch 2.13.0 pairs with torchvision 0.28.0; a bare ``pip install torchvision`` pulls another
torch). A torchvision build whose C++ operators cannot load into this torch (a CUDA wheel beside
a CPU torch) fails on import in torchvision's own operator registrations, although its
transforms and models are plain Python: then the two operators those registrations need are
declared, and the import is tried once more. Detection operators (nms, roi_align) stay unusable
in that case; nothing AIForge uses needs them.
"""

from __future__ import annotations

import sys
from types import ModuleType

from aiforge.errors import PluginError

INSTALL = 'pip install "torch==2.13.0" "torchvision==0.28.0"  (or: pip install "aiforge[vision]")'
_UNREGISTERED_OPERATOR = "torchvision::"
_OPERATOR_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_library = None  # the torch.library fragment that declares the operators; kept alive while in use


def import_if_installed() -> None:
    """Import torchvision, when it is installed, before a library that imports it on its own
    (torchmetrics does): that import would fail where the operators do not load."""
    import importlib.util

    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is not None:
        import_torchvision()


def import_torchvision(needed_for: str = "the image plugins") -> ModuleType:
    """torchvision, or a PluginError that says which command installs it."""
    try:
        import torchvision
    except ImportError as err:
        raise PluginError(
            f"{needed_for} need torchvision, which is not installed ({err}); {INSTALL}"
        ) from None
    except RuntimeError as err:
        if _UNREGISTERED_OPERATOR not in str(err):
            raise
        return _import_without_operators(err)
    return torchvision


def _import_without_operators(first_error: RuntimeError) -> ModuleType:
    """torchvision whose compiled operators did not load: declare what its import registers, retry."""
    global _library
    import torch

    from aiforge.runtime.log import logger

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    if _library is None:
        _library = torch.library.Library("torchvision", "FRAGMENT")
        for operator in ("nms", "qnms"):
            _library.define(operator + _OPERATOR_SCHEMA)
    import torchvision

    logger.debug(
        f"torchvision {torchvision.__version__}'s compiled operators do not load into torch "
        f"{torch.__version__} ({first_error}); its transforms and models work, its detection "
        f"operators do not. For a matching pair: {INSTALL}"
    )
    return torchvision
