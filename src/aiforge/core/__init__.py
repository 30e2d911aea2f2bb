"""The core: the plugin contracts (model, dataset, preprocessor), plugin discovery and the
Orchestrator. The training loop lives in :mod:`aiforge.training` (``Trainer`` is re-exported here
for older imports)."""

from aiforge._lazy import lazy_exports

_EXPORTS = {
    "BaseModel": "aiforge.core.base_model",
    "BaseDataset": "aiforge.core.data_pipeline",
    "BasePreprocessor": "aiforge.core.data_pipeline",
    "InMemoryDataset": "aiforge.core.data_pipeline",
    "Orchestrator": "aiforge.core.orchestrator",
    "Trainer": "aiforge.training.trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
