"""benchmarks/startup.py: it runs, and it sees what the start-up path imports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

STARTUP = Path(__file__).resolve().parents[1] / "benchmarks" / "startup.py"
HEAVY = ("torch", "mlflow", "torchmetrics", "matplotlib")


def load_startup():
    spec = importlib.util.spec_from_file_location("bench_startup", STARTUP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_import_and_help_import_no_heavy_library(tmp_path):
    out = tmp_path / "startup.json"
    result = subprocess.run(
        [sys.executable, str(STARTUP), "--repeats", "1", "--commands", "import", "help", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    measured = json.loads(out.read_text())
    for key in ("import", "help"):
        assert measured[key]["median_s"] > 0
        assert not set(measured[key]["heavy_imported"]) & set(HEAVY), measured[key]
    assert "| `python -m aiforge --help` |" in result.stdout  # the Markdown table


def test_import_profile_is_parsed(tmp_path):
    startup = load_startup()
    modules = startup.imports([sys.executable, "-c", "import json.decoder"], str(tmp_path))
    assert "json.decoder" in dict(modules)
    fake = [("aiforge", 10), ("torch.nn", 5), ("matplotlib", 1), ("torchvision", 1)]
    assert startup.heavy_modules(fake) == ["torch", "matplotlib"]
