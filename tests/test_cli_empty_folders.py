"""An empty --results-dir or --plugins-dir is refused (exit 2) by every command that takes it.

Regression: argparse's ``type=Path`` turns '' into Path('.'), so `aiforge run --results-dir ''`
wrote its run folder into the working directory and `aiforge runs --results-dir ''` listed it;
an empty --plugins-dir was silently taken as no plugin folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.cli import main

# Every command that takes --results-dir, with the arguments it needs besides.
RESULTS_DIR_COMMANDS = [
    ["run"],
    ["evaluate", "some_run"],
    ["predict", "some_run", "--input", "in.csv", "--output", "out.csv"],
    ["export", "some_run"],
    ["runs"],
    ["compare", "run_a", "run_b"],
    ["report", "some_run"],
]
PLUGINS_DIR_COMMANDS = [
    *RESULTS_DIR_COMMANDS,
    ["check"],
    ["plugins"],
    ["examples"],
    ["config", "schema"],
]


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIFORGE_RESULTS_DIR", raising=False)
    monkeypatch.delenv("AIFORGE_PLUGINS_DIR", raising=False)
    return tmp_path


@pytest.mark.parametrize("value", ["", " "])
@pytest.mark.parametrize("command", RESULTS_DIR_COMMANDS, ids=lambda c: c[0])
def test_an_empty_results_dir_option_is_refused(
    workdir: Path, command: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code([*command, "--results-dir", value]) == 2
    err = capsys.readouterr().err
    assert "--results-dir" in err and "empty" in err and "'.'" in err
    assert list(workdir.iterdir()) == []  # no run folder in the working directory


@pytest.mark.parametrize("before_command", [False, True])
@pytest.mark.parametrize("command", PLUGINS_DIR_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_an_empty_plugins_dir_option_is_refused(
    workdir: Path, command: list[str], before_command: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    option = ["--plugins-dir", ""]
    argv = [*option, *command] if before_command else [*command, *option]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "--plugins-dir" in err and "empty" in err and "'.'" in err
    assert list(workdir.iterdir()) == []


def test_a_dot_is_still_the_working_directory(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--results-dir", ".", "--plugins-dir", ".", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
