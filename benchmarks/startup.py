"""Start-up time of ``import aiforge``, the ``aiforge`` command and a tiny run, and what they import.

    python benchmarks/startup.py [--repeats 10] [--commands ...] [--json PATH]
    python benchmarks/startup.py --repeats 5 --commands torch_import hand_loop run_off run_mlflow \
        run_mlflow_fresh

Each command runs in ``--repeats`` fresh subprocesses; printed is the median wall time and
the time beyond the interpreter's own start (``python -c pass``). One more run of each with
``PYTHONPROFILEIMPORTTIME=1`` (``python -X importtime``) lists the heavy libraries it
imported and its slowest imports. Targets (issue 6): ``aiforge --help`` under 0.3 s, and
``import aiforge`` under 0.1 s beyond the interpreter; neither imports a heavy library.

The fixed cost of a run (issue 20): ``run_off`` is a 2-epoch ``aiforge run`` of the bundled digits
experiment with tracking off, ``run_mlflow`` the same tracked in a SQLite MLflow store that already
exists (one untimed run creates it), ``run_mlflow_fresh`` in a new store each time.
``torch_import`` (``python -c "import torch, sklearn.datasets"``) and ``hand_loop``
(benchmarks/startup_hand_loop.py: the same data, model and epochs written by hand) are the
yardsticks; targets: run_off <= 1.5 x torch_import + training, run_mlflow <= run_off + 2 s.
One more run of each run command under benchmarks/startup_phases.py splits its time into phases.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEAVY = ("torch", "mlflow", "torchmetrics", "matplotlib", "pandas", "sklearn")
LIGHT = ("import", "help", "console_help")  # must import none of HEAVY
RUNS = ("run_off", "run_mlflow", "run_mlflow_fresh")
HELP_TARGET_S, IMPORT_TARGET_S = 0.3, 0.1
RUN_RATIO_TARGET, MLFLOW_EXTRA_TARGET_S = 1.5, 2.0
HERE = Path(__file__).resolve().parent
TINY_RUN_EPOCHS = 2
TINY_RUN = ["run", "-o", f"training_config.epochs={TINY_RUN_EPOCHS}", "-q"]
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    target: str = ""
    tracked: bool = False  # MLflow on (a SQLite store in the working folder)
    fresh_store: bool = False  # a new store for each repeat

    def argv_for(self, repeat: int) -> list[str]:
        """The command line of one repeat: a tracked run names its store."""
        if not self.tracked:
            return self.argv
        store = f"fresh_{repeat}.db" if self.fresh_store else "mlflow.db"
        return [*self.argv, "-o", f"tracking.tracking_uri=sqlite:///{store}"]


def commands(python: str) -> dict[str, Command]:
    """What is measured; the console script only where the interpreter's environment has one."""
    found = {
        "interpreter": Command("python -c pass", [python, "-c", "pass"]),
        "import": Command(
            "python -c 'import aiforge'",
            [python, "-c", "import aiforge"],
            f"< {IMPORT_TARGET_S} s beyond the interpreter",
        ),
        "help": Command(
            "python -m aiforge --help", [python, "-m", "aiforge", "--help"], f"< {HELP_TARGET_S} s"
        ),
        "plugins": Command("aiforge plugins", [python, "-m", "aiforge", "plugins"]),
        "torch_import": Command(
            'python -c "import torch, sklearn.datasets"', [python, "-c", "import torch, sklearn.datasets"]
        ),
        "hand_loop": Command("hand-written 2-epoch loop", [python, str(HERE / "startup_hand_loop.py")]),
        "run_off": Command(
            "aiforge run, 2 epochs, tracking off",
            [python, "-m", "aiforge", *TINY_RUN],
            f"<= {RUN_RATIO_TARGET} x torch_import + training",
        ),
        "run_mlflow": Command(
            "aiforge run, 2 epochs, MLflow",
            [python, "-m", "aiforge", *TINY_RUN],
            f"<= run_off + {MLFLOW_EXTRA_TARGET_S:g} s",
            tracked=True,
        ),
        "run_mlflow_fresh": Command(
            "aiforge run, 2 epochs, new MLflow store",
            [python, "-m", "aiforge", *TINY_RUN],
            tracked=True,
            fresh_store=True,
        ),
    }
    script = Path(python).parent / ("aiforge.exe" if os.name == "nt" else "aiforge")
    if script.is_file():
        found["console_help"] = Command("aiforge --help", [str(script), "--help"], f"< {HELP_TARGET_S} s")
    return found


def clean_env(tracked: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AIFORGE_", "MLFLOW_"))}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    env["AIFORGE_TRACKING"] = "true" if tracked else "false"
    return env


def wall_times(command: Command, repeats: int, cwd: str) -> list[float]:
    times = []
    if command.tracked and not command.fresh_store:  # the store exists before the timed runs
        subprocess.run(command.argv_for(0), cwd=cwd, env=clean_env(True), capture_output=True, check=True)
    for repeat in range(repeats):
        argv = command.argv_for(repeat)
        start = time.perf_counter()
        result = subprocess.run(argv, cwd=cwd, env=clean_env(command.tracked), capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return times


def imports(argv: list[str], cwd: str, tracked: bool = False) -> list[tuple[str, int]]:
    """Every module the command imported, with its cumulative import time in microseconds."""
    env = clean_env(tracked) | {"PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    found = []
    for line in result.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            found.append((match.group(4), int(match.group(2))))
    return found


def heavy_modules(modules: list[tuple[str, int]]) -> list[str]:
    names = {name.split(".")[0] for name, _ in modules}
    return [name for name in HEAVY if name in names]


def measure(selected: list[str], repeats: int, python: str) -> dict[str, dict[str, Any]]:
    available = commands(python)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as cwd:  # no stray files, no local package shadowing
        for key in ["interpreter", *[k for k in selected if k != "interpreter"]]:
            if key not in available:
                print(f"note: skipped {key} (no console script next to {python})")
                continue
            command = available[key]
            times = wall_times(command, repeats, cwd)
            loaded = imports(command.argv_for(repeats), cwd, command.tracked)
            slowest = sorted(loaded, key=lambda item: -item[1])[:5]
            results[key] = {
                **({"phases_s": phases(command, python, cwd, repeats + 1)} if key in RUNS else {}),
                "command": command.label,
                "median_s": statistics.median(times),
                "times_s": times,
                "target": command.target,
                "heavy_imported": heavy_modules(loaded),
                "slowest_imports_s": [(name, us / 1e6) for name, us in slowest],
            }
    base = results["interpreter"]["median_s"]
    for key, result in results.items():
        result["beyond_interpreter_s"] = result["median_s"] - base
        result["meets_target"] = meets_target(key, result, results)
    return results


def phases(command: Command, python: str, cwd: str, repeat: int) -> dict[str, float]:
    """One more run of ``command`` under startup_phases.py: seconds per phase of the run."""
    out = Path(cwd) / "phases.json"
    aiforge_args = command.argv_for(repeat)[3:]  # after: python -m aiforge
    argv = [python, str(HERE / "startup_phases.py"), "--json", str(out), "--", *aiforge_args]
    subprocess.run(argv, cwd=cwd, env=clean_env(command.tracked), capture_output=True, check=True)
    return json.loads(out.read_text(encoding="utf-8"))


def training_s(phases: dict[str, float]) -> float:
    """The run's training time without one-off costs: its epochs at the pace of the second one
    (the first also pays first-call costs such as allocator warm-up)."""
    return TINY_RUN_EPOCHS * phases["other_epochs"] / (TINY_RUN_EPOCHS - 1)


def meets_target(key: str, result: dict[str, Any], results: dict[str, dict[str, Any]]) -> bool | None:
    """None where there is no target (or its yardstick was not measured)."""
    if key == "run_off" and "torch_import" in results:
        limit = RUN_RATIO_TARGET * results["torch_import"]["median_s"] + training_s(result["phases_s"])
        return result["median_s"] <= limit
    if key == "run_mlflow" and "run_off" in results:
        return result["median_s"] <= results["run_off"]["median_s"] + MLFLOW_EXTRA_TARGET_S
    if key == "import":
        return result["beyond_interpreter_s"] < IMPORT_TARGET_S and not result["heavy_imported"]
    if key in ("help", "console_help"):
        return result["median_s"] < HELP_TARGET_S and not result["heavy_imported"]
    return None


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| command | median s | beyond interpreter s | target | heavy libraries imported |",
        "|---|---|---|---|---|",
    ]
    for result in results.values():
        verdict = {True: " (met)", False: " (**missed**)", None: ""}[result["meets_target"]]
        heavy = ", ".join(result["heavy_imported"]) or "none"
        lines.append(
            f"| `{result['command']}` | {result['median_s']:.3f} | {result['beyond_interpreter_s']:+.3f} | "
            f"{result['target'] or '-'}{verdict} | {heavy} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="fresh subprocesses per command")
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=["import", "help", "console_help", "plugins", "torch_import", "hand_loop", *RUNS],
        default=["import", "help", "console_help", "plugins"],
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    results = measure(args.commands, args.repeats, args.python)
    for result in results.values():
        slowest = ", ".join(f"{name} {seconds:.3f}" for name, seconds in result["slowest_imports_s"][:3])
        print(f"{result['command']:<30} {result['median_s']:.3f} s   slowest imports (s): {slowest}")
    for result in results.values():
        if "phases_s" in result:
            shown = ", ".join(f"{name} {value:.2f}" for name, value in result["phases_s"].items())
            print(f"{result['command']}: phases (s): {shown}")
    print()
    print(markdown_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    light_heavy = {k: r["heavy_imported"] for k, r in results.items() if k in LIGHT and r["heavy_imported"]}
    if light_heavy:
        print(f"\nheavy libraries on the start-up path: {light_heavy}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
