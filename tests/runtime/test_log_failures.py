"""A debug log that cannot be written (full disk) costs the log, quietly: one warning, never a
traceback per message, and no message that points at the log (issue 16 h)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from loguru import logger

import aiforge.runtime.log as aiforge_logger
from aiforge.runtime.log import add_run_log, configure_logging, log_written, remove_run_log

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (ENOSPC on write)")


def _full_disk_open(path: Path) -> int:
    """What opening the log returns on a full disk: a descriptor whose every write fails with ENOSPC."""
    return os.open("/dev/full", os.O_WRONLY)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(aiforge_logger, "_console_sink", None)
    configure_logging("INFO")
    yield
    with contextlib.suppress(ValueError):
        logger.remove(aiforge_logger._console_sink)


def test_a_full_disk_warns_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, console) -> None:
    monkeypatch.setattr(aiforge_logger, "_open_log", _full_disk_open)
    path = tmp_path / "aiforge_debug.log"
    sink = add_run_log(path)
    try:
        for index in range(50):
            logger.debug(f"message {index}")
            logger.info(f"info {index}")
    finally:
        remove_run_log(sink)
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    warnings = [line for line in err.splitlines() if "debug log" in line]
    assert len(warnings) == 1, err
    assert "No space left on device" in warnings[0]
    assert not log_written(path)


def test_a_healthy_log_is_written(tmp_path: Path) -> None:
    path = tmp_path / "aiforge_debug.log"
    sink = add_run_log(path)
    try:
        logger.debug("first")
        logger.debug("second")
    finally:
        remove_run_log(sink)
    assert [line.rsplit(" ", 1)[-1] for line in path.read_text(encoding="utf-8").splitlines()] == [
        "first",
        "second",
    ]
    assert log_written(path)


def test_the_log_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiforge_logger, "ROTATE_BYTES", 200)
    path = tmp_path / "aiforge_debug.log"
    sink = add_run_log(path)
    try:
        for index in range(40):
            logger.debug(f"line {index:03d} " + "x" * 40)
    finally:
        remove_run_log(sink)
    assert path.stat().st_size <= 200
    rotated = sorted(p.name for p in tmp_path.iterdir() if p != path)
    assert rotated == [f"aiforge_debug.log.{n}" for n in range(1, aiforge_logger.KEEP_ROTATED + 1)]
    assert "line 039" in path.read_text(encoding="utf-8")


def test_a_failed_run_on_a_full_disk_names_no_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, console
) -> None:
    from aiforge.cli import main
    from aiforge.core.orchestrator import Orchestrator

    monkeypatch.setattr(aiforge_logger, "_open_log", _full_disk_open)

    def broken_train(self) -> None:
        for index in range(20):
            logger.info(f"epoch {index}")
        raise RuntimeError("boom")

    monkeypatch.setattr(Orchestrator, "train", broken_train)
    monkeypatch.setenv("AIFORGE_TRACKING", "false")
    code = main(["run", "--example", "iris_plateau", "--results-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "boom" in err
    assert "Logging error" not in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "debug log" in line]) == 1, err
    assert "The traceback is in" not in err
