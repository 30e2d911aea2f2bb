"""Training throughput of 1 and 2 processes under torchrun on this machine (CPU, gloo).

    python benchmarks/distributed_throughput.py [--samples 200000] [--epochs 2] [--repeats 3]

Each configuration runs the real ``aiforge run`` under ``python -m torch.distributed.run`` on the
built-in synthetic set (simple_nn, 64 features, MLP 64-128-10), tracking and progress off. The
time measured is from "Training for up to" to the last epoch's line in the run's debug log:
the epochs (training and validation), not start-up. The batch size is 64 per process, so 2
processes take half as many steps per epoch, each on twice the global batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import yaml


def experiment(samples: int, epochs: int) -> dict:
    return {
        "experiment_name": "throughput",
        "model_plugin": "simple_nn",
        "dataset_plugin": "simple_nn",
        "dataset_args": {"num_samples": samples, "input_dim": 64, "num_classes": 10, "seed": 0},
        "model_config": {"hidden_dim": 128, "dropout_rate": 0.0},
        "training_config": {"epochs": epochs, "batch_size": 64, "learning_rate": 0.001},
        "tracking": {"enabled": False},
    }


def _stamp(line: str) -> datetime:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")


def epochs_seconds(run_dir: Path) -> float:
    lines = (run_dir / "aiforge_debug.log").read_text().splitlines()
    start = next(_stamp(line) for line in lines if "Training for up to" in line)
    end = [_stamp(line) for line in lines if " - Epoch " in line][-1]
    return (end - start).total_seconds()


def run_once(processes: int, threads: int, config: Path, results: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "AIFORGE_TRACKING": "false"}
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
    ]
    command = [
        *launcher,
        "-m",
        "aiforge",
        "run",
        str(config),
        "--results-dir",
        str(results),
        "--no-progress",
        "-q",
    ]
    subprocess.run(command, env=env, check=True, capture_output=True)
    (run_dir,) = [p for p in results.glob("*/*") if p.is_dir()]
    return epochs_seconds(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    train_rows = args.samples - round(args.samples * 0.2)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "exp.yaml"
        config.write_text(yaml.safe_dump(experiment(args.samples, args.epochs)))
        print(
            f"{args.samples:,} rows x 64 features ({train_rows:,} training), "
            f"{args.epochs} epochs, batch 64 per process"
        )
        print(f"{'processes':>9} {'threads each':>12} {'median s':>9} {'spread s':>9} {'samples/s':>10}")
        baseline = None
        for processes, threads in ((1, 1), (1, 2), (2, 1)):
            times = [
                run_once(processes, threads, config, Path(folder) / f"r{processes}{threads}{repeat}")
                for repeat in range(args.repeats)
            ]
            median = statistics.median(times)
            rate = train_rows * args.epochs / median
            baseline = baseline or rate
            print(
                f"{processes:>9} {threads:>12} {median:>9.2f} {max(times) - min(times):>9.2f} "
                f"{rate:>10,.0f}  ({rate / baseline:.2f}x)"
            )


if __name__ == "__main__":
    main()
