"""The tracking-store check as MLflow itself would connect (credentials in the URI, TLS settings),
on a resume too, without false messages for Databricks, without an endless wait for the SQLite
creation lock; the run folder's lock file never goes to MLflow, and a bad
AIFORGE_MLFLOW_TRACKING_URI stops only the commands that track."""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aiforge.cli import main
from aiforge.config.settings import AppSettings
from aiforge.config.tracking_uris import WHOLE_URIS
from aiforge.core.orchestrator import Orchestrator
from aiforge.runs.lock import LOCK_FILE
from aiforge.tracking import store_check as tracking_store
from aiforge.tracking.mlflow_callback import read_run_info
from aiforge.utils.callbacks import Callback
from plugin_builders import tiny_experiment

USAGE = 2


@pytest.fixture
def workdir(tracking_workdir: Path) -> Path:
    """The tracking tests' working directory (see conftest.tracking_workdir)."""
    return tracking_workdir


def cli(*argv: str) -> int:
    try:
        return main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


# -- servers as MLflow reaches them ------------------------------------------------------------
class Health(http.server.BaseHTTPRequestHandler):
    """/health answers 200 to user:pass and 401 to anyone else; it records what it was sent."""

    seen: list[str | None]

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        self.seen.append(auth)
        expected = "Basic " + base64.b64encode(b"user:pass").decode()
        self.send_response(200 if auth == expected and self.path == "/health" else 401)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[http.server.HTTPServer, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("Recording", (Health,), {"seen": seen})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, seen
    server.shutdown()
    server.server_close()
    thread.join()


def test_credentials_in_a_server_uri_are_used_by_the_check(workdir: Path, health_server) -> None:
    server, seen = health_server
    tracking_store.prepare_store(f"http://user:pass@127.0.0.1:{server.server_port}")
    assert seen == ["Basic " + base64.b64encode(b"user:pass").decode()]


def _self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no certificate authority signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# The user asked for an unverified connection; urllib3 says so on every request.
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("setting", ["MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH"])
def test_an_https_server_mlflow_trusts_through_its_settings_passes(
    workdir: Path, health_server, monkeypatch, setting: str
) -> None:
    server, seen = health_server
    cert, key = _self_signed_cert(workdir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    monkeypatch.setenv(setting, "true" if setting.endswith("INSECURE_TLS") else str(cert))
    tracking_store.prepare_store(f"https://127.0.0.1:{server.server_port}")
    assert seen == [None]  # it answered (401: no credentials); reachable is all the check asks


def test_a_refused_server_is_still_refused_without_the_password(refusing_port: int) -> None:
    with pytest.raises(tracking_store.TrackingStoreError) as caught:
        tracking_store.check_server(f"http://user:secret@127.0.0.1:{refusing_port}")
    message = str(caught.value)
    assert f"127.0.0.1:{refusing_port}" in message and "cannot be reached" in message
    assert "secret" not in message


# -- Databricks URIs are not folders -----------------------------------------------------------
@pytest.mark.parametrize("uri", WHOLE_URIS)
def test_databricks_uris_are_not_taken_for_file_stores(workdir: Path, infos: list[str], uri: str) -> None:
    tracking_store.prepare_store(uri)
    assert not any("file store" in message for message in infos), infos
    assert list(workdir.iterdir()) == []


# -- the SQLite creation lock is waited for, not forever -----------------------------------------
LOCK_HOLDER = """
import sys
from aiforge.tracking import store_check as tracking_store

with tracking_store.store_lock(sys.argv[1]):
    print("ready", flush=True)
    sys.stdin.read()
"""


def test_a_held_sqlite_creation_lock_fails_after_the_deadline(
    workdir: Path, monkeypatch, warnings: list[str]
) -> None:
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    lock = workdir / "mlflow.db.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        monkeypatch.setattr(tracking_store, "STORE_LOCK_WAIT_S", 0.2, raising=False)
        outcome: list[BaseException | None] = []

        def prepare() -> None:
            try:
                tracking_store.prepare_store(uri)
                outcome.append(None)
            except BaseException as err:
                outcome.append(err)

        waiter = threading.Thread(target=prepare, daemon=True)
        waiter.start()
        waiter.join(120)  # only a guard: the old code waits until the holder ends
        assert not waiter.is_alive(), "still waiting for the lock"
    finally:
        holder.communicate("", timeout=60)
    (error,) = outcome
    assert isinstance(error, tracking_store.TrackingStoreError), error
    assert str(lock) in str(error) and f"process {holder.pid}" in str(error)
    assert any(str(lock) in w and "waiting" in w.lower() for w in warnings), warnings


def test_a_free_sqlite_creation_lock_is_taken_at_once(workdir: Path, warnings: list[str]) -> None:
    with tracking_store.store_lock(f"sqlite:///{workdir / 'mlflow.db'}"):
        pass
    assert warnings == []


# -- the run folder's lock file stays out of MLflow ---------------------------------------------
def test_the_run_folder_lock_is_not_logged_to_mlflow(workdir: Path) -> None:
    config = {**tiny_experiment("tracked"), "tracking": {"log_model": False}}
    (workdir / "exp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (workdir / "results").mkdir()
    assert cli("run", "exp.yaml", "--results-dir", "results") == 0
    (run_dir,) = (workdir / "results" / "tracked").iterdir()
    from mlflow.tracking import MlflowClient

    info = read_run_info(run_dir)
    assert info is not None
    client = MlflowClient(tracking_uri=info["tracking_uri"])

    def paths(path: str = "") -> set[str]:
        found: set[str] = set()
        for item in client.list_artifacts(info["run_id"], path):
            found |= paths(item.path) if item.is_dir else {item.path}
        return found

    logged = paths()
    assert "config.yaml" in logged and "checkpoints/best.pt" in logged, logged
    assert not any(Path(p).name == LOCK_FILE for p in logged), logged


def test_lock_and_unfinished_files_are_left_out_of_the_upload(tmp_path: Path) -> None:
    from aiforge.tracking.mlflow_callback import run_folder_files

    (tmp_path / "checkpoints").mkdir()
    for name in ("config.yaml", LOCK_FILE, "checkpoints/best.pt", "checkpoints/.best.pt.x1.tmp", ".a.tmp"):
        (tmp_path / name).write_text("x")
    files = {(str(path.relative_to(tmp_path)), folder) for path, folder in run_folder_files(tmp_path)}
    assert files == {("config.yaml", None), ("checkpoints/best.pt", "checkpoints")}


# -- a resume checks its store too ---------------------------------------------------------------
class StopAfterFirstEpoch(Callback):
    """Ctrl-C after epoch 1's checkpoint: a resumable folder."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


def interrupted_run(root: Path, tracked: bool, **tracking: object) -> Path:
    """A two-epoch tiny run stopped in epoch 2 (epoch 1 checkpointed), untracked unless ``tracked``."""
    from aiforge.config.model_configs import ExperimentConfig

    config = tiny_experiment("resumed")
    config["training_config"]["epochs"] = 2
    config["tracking"] = {"log_model": False, **tracking}
    settings = AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=tracked)
    orchestrator = Orchestrator(
        ExperimentConfig(**config), settings=settings, callbacks=[StopAfterFirstEpoch()]
    )
    with pytest.raises(KeyboardInterrupt):
        orchestrator.run_experiment()
    (run_dir,) = (root / "results" / "resumed").iterdir()
    assert not (run_dir / "final_results.json").exists()
    return run_dir


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file's bytes, but the lock file's (its holder record names the last process)."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in run_dir.rglob("*")
        if p.is_file() and p.name != LOCK_FILE
    }


def test_a_resume_to_an_unreachable_server_exits_2_and_leaves_the_folder(
    workdir: Path, refusing_port: int, monkeypatch, capsys
) -> None:
    run_dir = interrupted_run(workdir, tracked=False)
    before = snapshot(run_dir)
    uri = f"http://127.0.0.1:{refusing_port}"
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", uri)
    code = cli("run", "--resume", str(run_dir))
    err = capsys.readouterr().err
    assert code == USAGE, err
    assert uri in err and "on_unreachable" in err and "Traceback" not in err
    assert snapshot(run_dir) == before
    monkeypatch.delenv("AIFORGE_MLFLOW_TRACKING_URI")
    monkeypatch.setenv("AIFORGE_TRACKING", "false")
    assert cli("run", "--resume", str(run_dir)) == 0  # still resumable
    assert (run_dir / "final_results.json").exists()


def test_a_resume_with_warn_trains_untracked(
    workdir: Path, refusing_port: int, monkeypatch, warnings: list[str]
) -> None:
    run_dir = interrupted_run(workdir, tracked=False, on_unreachable="warn")
    uri = f"http://127.0.0.1:{refusing_port}"
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", uri)
    assert cli("run", "--resume", str(run_dir)) == 0
    assert (run_dir / "final_results.json").exists()
    assert not (run_dir / "mlflow_run.json").exists()
    assert any(uri in w and "untracked" in w for w in warnings), warnings


def test_a_resume_checks_the_store_the_run_was_tracked_in(workdir: Path, monkeypatch, capsys) -> None:
    """The run went to a SQLite file whose folder is gone since: the resume names that store, not
    the one the environment names now, and creates no folder for it."""
    first = workdir / "first"
    first.mkdir()
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", f"sqlite:///{first / 'mlflow.db'}")
    run_dir = interrupted_run(workdir, tracked=True)
    assert read_run_info(run_dir) is not None
    for path in sorted(first.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    first.rmdir()
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'other.db'}")
    before = snapshot(run_dir)
    code = cli("run", "--resume", str(run_dir))
    err = capsys.readouterr().err
    assert code == USAGE, err
    assert str(first) in err and "does not exist" in err, err
    assert not first.exists() and not (workdir / "other.db").exists()
    assert snapshot(run_dir) == before


# -- a bad AIFORGE_MLFLOW_TRACKING_URI stops only commands that track -------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    from aiforge.config.model_configs import ExperimentConfig

    settings = AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=False)
    results = Orchestrator(ExperimentConfig(**tiny_experiment("done")), settings=settings).run_experiment()
    return Path(results["run_dir"])


@pytest.mark.parametrize(
    "command",
    [
        ("evaluate", "{run}"),
        ("predict", "{run}", "--input", "{csv}", "--output", "{out}"),
        ("export", "{run}", "--output", "{model}"),
        ("report", "{run}"),
        ("runs", "--results-dir", "{results}"),
    ],
    ids=lambda command: command[0],
)
def test_commands_that_do_not_track_ignore_a_bad_tracking_uri(
    workdir: Path, finished_run: Path, monkeypatch, command: tuple[str, ...]
) -> None:
    import pandas as pd

    csv = workdir / "rows.csv"
    pd.DataFrame([[0.1, 0.2, 0.3, 0.4]], columns=[f"f{i}" for i in range(4)]).to_csv(csv, index=False)
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", "garbage://x")
    names = {
        "run": str(finished_run),
        "csv": str(csv),
        "out": str(workdir / "out.csv"),
        "model": str(workdir / "model.pt"),
        "results": str(finished_run.parent.parent),
    }
    assert cli(*(part.format(**names) for part in command)) == 0


def test_run_and_check_still_refuse_a_bad_tracking_uri(workdir: Path, monkeypatch, capsys) -> None:
    (workdir / "exp.yaml").write_text(yaml.safe_dump(tiny_experiment("bad")), encoding="utf-8")
    monkeypatch.setenv("AIFORGE_MLFLOW_TRACKING_URI", "garbage://x")
    for argv in (("run", "exp.yaml", "--results-dir", "results"), ("check", "exp.yaml")):
        code = cli(*argv)
        err = capsys.readouterr().err
        assert code == USAGE, err
        assert "AIFORGE_MLFLOW_TRACKING_URI" in err and "garbage://x" in err and "Traceback" not in err
    assert not (workdir / "results").exists()
