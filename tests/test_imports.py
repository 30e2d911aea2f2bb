"""Importing AIForge and starting its CLI must be cheap and have no side effects."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str, cwd) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_creates_nothing_and_skips_heavy_libraries(tmp_path):
    out = run_python(
        "import sys, aiforge, aiforge.config, aiforge.core, aiforge.utils, aiforge.cli\n"
        "heavy = ('torch', 'torchmetrics', 'mlflow', 'sklearn', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))",
        tmp_path,
    )
    assert out == "[]"
    assert list(tmp_path.iterdir()) == []


def test_help_does_not_import_torch(tmp_path):
    out = run_python(
        "import sys\nfrom aiforge.cli import build_parser\nbuild_parser().format_help()\n"
        "print('torch' in sys.modules)",
        tmp_path,
    )
    assert out == "False"


def test_public_api_is_reexported():
    import aiforge

    for name in aiforge.__all__:
        assert getattr(aiforge, name) is not None, name
    assert aiforge.SimpleNNConfig.__name__ == "SimpleNNConfig"
