"""torchrun on CPU (gloo): DDP equals one process with the same global batch, only rank 0 writes,
two "nodes" on one machine, an elastic restart that resumes, and a failing rank that ends the job.

Every run is the real ``aiforge`` command under ``python -m torch.distributed.run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.slow

PROBE_MODEL = '''
"""simple_nn's network; on rank FAIL_RANK, in training batch FAIL_AT_STEP of the first attempt,
FAIL_MODE=kill dies by SIGKILL, =sigterm gets a SIGTERM, =nan returns a NaN loss, =nan_value a NaN
loss whose gradients stay finite, =raise raises. With RANK_RANDOM set, rank r draws r extra random
numbers per step, so the ranks' generators (and dropout masks) drift apart."""
import os
import signal

import torch

from aiforge.plugins.simple_nn.model import Model as SimpleModel


class Model(SimpleModel):
    steps = 0

    def training_step(self, batch, batch_idx):
        Model.steps += self.training
        if os.environ.get("RANK_RANDOM"):
            torch.rand(int(os.environ["RANK"]))
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        here = os.environ.get("RANK") == os.environ.get("FAIL_RANK")
        if first_attempt and here and str(Model.steps) == os.environ.get("FAIL_AT_STEP"):
            mode = os.environ.get("FAIL_MODE")
            if mode in ("kill", "sigterm"):
                os.kill(os.getpid(), signal.SIGKILL if mode == "kill" else signal.SIGTERM)
            elif mode == "nan":
                outputs = super().training_step(batch, batch_idx)
                return {**outputs, "loss": outputs["loss"] * float("nan")}
            elif mode == "nan_value":
                outputs = super().training_step(batch, batch_idx)
                return {**outputs, "loss": outputs["loss"] + float("nan")}
            else:
                raise ValueError("the probe failed on purpose")
        return super().training_step(batch, batch_idx)
'''

CONFIG = {
    "experiment_name": "ddp",
    "model_plugin": "probe",
    "dataset_plugin": "simple_nn",
    "dataset_args": {"num_samples": 400, "input_dim": 8, "num_classes": 3, "seed": 1},
    "model_config": {"hidden_dim": 16, "dropout_rate": 0.0},
    "seed": 5,
    "training_config": {"epochs": 1, "batch_size": 16, "learning_rate": 0.01},
    "tracking": {"enabled": False},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    (root / "plugins" / "probe").mkdir(parents=True)
    (root / "plugins" / "probe" / "__init__.py").write_text('"""A test plugin."""\n')
    (root / "plugins" / "probe" / "model.py").write_text(textwrap.dedent(PROBE_MODEL).lstrip())
    (root / "exp.yaml").write_text(yaml.safe_dump(CONFIG))
    return root


def environment(workspace: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAIL_", "TORCHELASTIC"))}
    env.update(AIFORGE_PLUGINS_DIR=str(workspace / "plugins"), AIFORGE_TRACKING="false", OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def torchrun(workspace: Path, launcher: list[str], *args: str, **extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "aiforge", "run", *args]
    return subprocess.run(
        [*command, "--no-progress"],
        cwd=workspace,
        env=environment(workspace, **extra),
        capture_output=True,
        text=True,
        timeout=400,
    )


def on_two_processes(
    workspace: Path, results: Path, *overrides: str, launcher: tuple[str, ...] = (), **extra: str
) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 [launcher] -m aiforge run exp.yaml -o ...``."""
    options = [item for override in overrides for item in ("-o", override)]
    return torchrun(
        workspace,
        ["--standalone", "--nproc_per_node=2", *launcher],
        "exp.yaml",
        "--results-dir",
        str(results),
        *options,
        **extra,
    )


def single(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "aiforge", "run", *args, "--no-progress"]
    env = environment(workspace)
    return subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=400)


def run_dirs(results: Path) -> list[Path]:
    return sorted(p for p in results.glob("*/*") if p.is_dir())


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "final_model.pt", weights_only=True)


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "final_results.json").read_text())


@pytest.fixture(scope="module")
def two_process_run(workspace: Path) -> Path:
    results = workspace / "two"
    done = on_two_processes(workspace, results)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("Run finished") == 1  # rank 0 alone reports
    (run_dir,) = run_dirs(results)
    return run_dir


def test_two_processes_equal_one_process_with_the_global_batch(
    workspace: Path, two_process_run: Path
) -> None:
    results = workspace / "one"
    done = single(workspace, "exp.yaml", "--results-dir", str(results), "-o", "training_config.batch_size=32")
    assert done.returncode == 0, done.stderr[-4000:]
    (one_run,) = run_dirs(results)
    distributed, alone = weights(two_process_run), weights(one_run)
    for key in alone:
        torch.testing.assert_close(distributed[key], alone[key], rtol=1e-5, atol=1e-6)
    two, one = results_of(two_process_run), results_of(one_run)
    # Validation covers every row exactly once across the ranks: the metrics equal one process's.
    assert two["final_val_metrics"] == pytest.approx(one["final_val_metrics"], abs=1e-6)
    assert two["final_val_loss"] == pytest.approx(one["final_val_loss"], rel=1e-5)
    assert two["val_samples"] == one["val_samples"] == 80


def test_only_rank_zero_writes_and_the_saved_model_evaluates_the_same(
    workspace: Path, two_process_run: Path
) -> None:
    names = {p.name for p in two_process_run.iterdir()}
    assert {"final_results.json", "final_model.pt", "metrics.csv", "aiforge_debug.log"} <= names
    assert "aiforge_debug.rank1.log" in names  # each rank's debug log in its own file
    log = (two_process_run / "aiforge_debug.log").read_text()
    assert "Distributed (gloo): 2 processes, batch_size 16 per process, effective batch size 32" in log
    command = [sys.executable, "-m", "aiforge", "evaluate", str(two_process_run), "--json"]
    done = subprocess.run(command, env=environment(workspace), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(done.stdout)
    final = results_of(two_process_run)
    assert evaluated["metrics"]["accuracy"] == pytest.approx(final["final_val_metrics"]["accuracy"], abs=1e-7)


def test_two_nodes_on_one_machine(workspace: Path, two_process_run: Path) -> None:
    """Two torchrun launchers, one process each, meeting through a c10d rendezvous on 127.0.0.1.

    The rendezvous store lives in this test, as a dedicated endpoint would on a cluster: hosted
    by one of the launchers, it would vanish when that node finishes first and the other
    launcher, still watching its worker, would fail on the lost store (torchrun's own race).
    """
    import torch.distributed as dist

    results = workspace / "nodes"
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    port = store.port
    processes = []
    for node_rank in (0, 1):
        launcher = [
            "--nnodes=2",
            "--nproc_per_node=1",
            f"--node_rank={node_rank}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint=127.0.0.1:{port}",
            "--rdzv-id=aiforge-two-nodes",
            "--rdzv-conf=is_host=false",
        ]
        command = [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "aiforge", "run"]
        command += ["exp.yaml", "--results-dir", str(results), "--no-progress"]
        processes.append(
            subprocess.Popen(
                command,
                cwd=workspace,
                env=environment(workspace),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=400) for process in processes]
    del store  # kept alive until both launchers are done
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-4000:]
    (run_dir,) = run_dirs(results)  # one run, written by global rank 0
    reference = weights(two_process_run)
    for key, value in weights(run_dir).items():
        torch.testing.assert_close(value, reference[key], rtol=1e-5, atol=1e-6)


def test_an_elastic_restart_resumes_from_the_last_checkpoint(workspace: Path) -> None:
    results = workspace / "elastic"
    done = on_two_processes(
        workspace,
        results,
        "training_config.epochs=3",
        launcher=("--max-restarts=1", "--monitor-interval=0.5"),
        FAIL_RANK="1",
        FAIL_AT_STEP="20",  # batch 8 of epoch 2 (13 batches per epoch per rank)
        FAIL_MODE="kill",
        # Longer than torchrun()'s 400 s limit: a rank left waiting for a dead peer fails the test
        # there, with no tighter clock of the test's own (which a busy machine could exceed).
        AIFORGE_DISTRIBUTED_TIMEOUT="600",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    (run_dir,) = run_dirs(results)  # the restarted workers continued the same run
    log = (run_dir / "aiforge_debug.log").read_text()
    assert "torchrun restarted the workers (restart 1)" in log
    assert "Resuming from" in log
    assert results_of(run_dir)["epochs_completed"] == 3
    epochs = [row.split(",")[0] for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3"]


def test_a_restart_continues_each_rank_s_own_random_numbers(workspace: Path) -> None:
    """Dropout on ranks whose generators differ: a restarted run ends with the same weights as
    one that never stopped, so each rank got its own generator states back, not rank 0's."""
    overrides = ("training_config.epochs=2", "model_config.dropout_rate=0.3")
    straight = on_two_processes(workspace, workspace / "rng_straight", *overrides, RANK_RANDOM="1")
    assert straight.returncode == 0, straight.stderr[-4000:]
    restarted = on_two_processes(
        workspace,
        workspace / "rng_restarted",
        *overrides,
        launcher=("--max-restarts=1", "--monitor-interval=0.5"),
        RANK_RANDOM="1",
        FAIL_RANK="1",
        FAIL_AT_STEP="20",  # batch 8 of epoch 2: the restart resumes from epoch 1's checkpoint
        FAIL_MODE="kill",
    )
    assert restarted.returncode == 0, restarted.stderr[-4000:]
    (straight_dir,) = run_dirs(workspace / "rng_straight")
    (restarted_dir,) = run_dirs(workspace / "rng_restarted")
    assert "Resuming from" in (restarted_dir / "aiforge_debug.log").read_text()
    expected = weights(straight_dir)
    for key, value in weights(restarted_dir).items():
        assert torch.equal(value, expected[key]), key


def test_an_error_on_one_rank_ends_every_rank_promptly(workspace: Path) -> None:
    results = workspace / "failing"
    done = on_two_processes(
        workspace,
        results,
        launcher=("--monitor-interval=0.5",),
        FAIL_RANK="1",
        FAIL_AT_STEP="5",
        FAIL_MODE="raise",
        # Longer than torchrun()'s 400 s limit: a rank left waiting for a dead peer fails the test
        # there, with no tighter clock of the test's own (which a busy machine could exceed).
        AIFORGE_DISTRIBUTED_TIMEOUT="600",
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    # Reported once, by the rank that failed; the other only lost its peer and stays quiet.
    assert output.count("error: the run failed:") == 1
    assert "error: the run failed: TrainingError: model plugin 'probe' failed in training_step" in output


def test_too_few_validation_rows_for_the_processes_is_a_clear_error(workspace: Path) -> None:
    results = workspace / "tiny_val"
    done = on_two_processes(workspace, results, "val_fraction=0.0025")  # 1 validation row, 2 processes
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert output.count("1 validation rows cannot be shared by 2 processes") == 1  # rank 0 reports it


def test_a_signal_on_one_rank_stops_every_rank_after_the_same_step(workspace: Path) -> None:
    results = workspace / "signal"
    done = on_two_processes(
        workspace,
        results,
        FAIL_RANK="1",
        FAIL_AT_STEP="4",
        FAIL_MODE="sigterm",
    )
    assert done.returncode != 0
    (run_dir,) = run_dirs(results)
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["global_step"] == 4 and last["epoch_progress"]["batches_done"] == 4  # the agreed step
    assert "interrupted by SIGTERM" in done.stderr


def test_skipping_non_finite_losses_works_under_ddp(workspace: Path) -> None:
    results = workspace / "skip"
    done = on_two_processes(
        workspace,
        results,
        "training_config.nonfinite_loss=skip",
        "training_config.checkpoint_every_n_steps=1",
        FAIL_RANK="1",
        FAIL_AT_STEP="3",
        FAIL_MODE="nan",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = run_dirs(results)
    assert "Skipped optimizer step 3: non-finite gradients" in (run_dir / "aiforge_debug.log").read_text()
    final = weights(run_dir)
    assert all(bool(torch.isfinite(value).all()) for value in final.values())


def test_a_non_finite_loss_on_one_rank_stops_every_rank_before_its_checkpoint(workspace: Path) -> None:
    # Rank 1's loss is NaN in step 3 but its gradients (and so all weights) stay finite: only
    # rank 1 sees the bad loss, yet both ranks must refuse the step-3 checkpoint and stop.
    results = workspace / "nan_one_rank"
    done = on_two_processes(
        workspace,
        results,
        "training_config.checkpoint_every_n_steps=1",
        FAIL_RANK="1",
        FAIL_AT_STEP="3",
        FAIL_MODE="nan_value",
    )
    assert done.returncode == 1, done.stderr[-3000:]
    (run_dir,) = run_dirs(results)
    log = (run_dir / "aiforge_debug.log").read_text()  # rank 0's log
    assert "the training loss became non-finite on another process in epoch 1" in log
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["global_step"] == 2  # the checkpoint before the bad step
