"""What the installed torch can do, for tests whose expectations depend on it."""

from __future__ import annotations

import torch

# torch 2.4 added the CPU kernels of fused Adam and AdamW.
FUSED_ADAM_ON_CPU = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 4)
