"""The console entry point runs the command, then freezes what is left out of the collector."""

from __future__ import annotations

import subprocess
import sys


def test_console_main_returns_the_command_s_code_with_the_objects_frozen(tmp_path):
    script = (
        "import gc, sys\n"
        "from aiforge.cli import console_main\n"
        "sys.argv = ['aiforge', 'examples']\n"
        "before = gc.get_freeze_count()\n"
        "code = console_main()\n"
        "print('frozen', before, gc.get_freeze_count(), 'code', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1].split()
    assert last[0] == "frozen" and int(last[1]) == 0 and int(last[2]) > 0
    assert last[3:] == ["code", "0"]
    assert "default" in done.stdout  # the command itself ran: it listed the bundled examples


def test_the_installed_command_uses_the_console_entry():
    from importlib.metadata import entry_points

    [script] = [ep for ep in entry_points(group="console_scripts") if ep.name == "aiforge"]
    assert script.value == "aiforge.cli:console_main"
