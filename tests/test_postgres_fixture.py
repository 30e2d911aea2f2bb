"""The throwaway PostgreSQL server (tests/postgres_server.py) works, and Optuna's RDB storage on it.

The multi-machine sweep test relies on both: several processes sharing one study through the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import postgres_server as postgres_server_module

# One Optuna worker: the study named argv[2] in storage argv[1], until argv[3] trials are COMPLETE.
# Two RDBStorage(url) started together on an empty database race to create Optuna's schema (its
# enum types, tables, version row and alembic stamp, each one transaction): the loser gets an
# IntegrityError (duplicate key in pg_type) once the winner has committed. Trying again then finds
# that step done, so a retry per step is enough; a sweep's first start on a new database needs it too.
WORKER = """
import sys

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

url, name, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
optuna.logging.set_verbosity(optuna.logging.WARNING)
for attempt in range(5):
    try:
        storage = optuna.storages.RDBStorage(url)
        break
    except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
        if attempt == 4:
            raise
        print("schema race: retrying", flush=True)
study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True)
study.optimize(
    lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2,
    n_trials=wanted,
    callbacks=[optuna.study.MaxTrialsCallback(wanted, states=(TrialState.COMPLETE,))],
)
"""


def test_no_tcp_port_and_a_private_socket(postgres_server: postgres_server_module.PostgresServer) -> None:
    conf = (postgres_server.data_dir / "postgresql.conf").read_text()
    assert "listen_addresses = ''" in conf
    assert list(Path(postgres_server.socket_dir).glob(".s.PGSQL.*"))


def test_sqlalchemy_round_trip(postgres_url: str) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            create = "CREATE TABLE fixture_check (id INTEGER PRIMARY KEY, name TEXT)"
            connection.execute(sqlalchemy.text(create))
            connection.execute(sqlalchemy.text("INSERT INTO fixture_check VALUES (1, 'digits')"))
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text("SELECT id, name FROM fixture_check")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "digits")]


def test_fresh_databases_are_separate(postgres_server: postgres_server_module.PostgresServer) -> None:
    assert postgres_server.new_database() != postgres_server.new_database()


@pytest.mark.slow
def test_two_optuna_processes_share_one_study(postgres_url: str) -> None:
    """Two processes on one RDB study stop at N complete trials between them.

    MaxTrialsCallback checks after each trial, so a process whose trial is still running when the
    other reaches N finishes it: up to one extra trial per additional process.
    """
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("psycopg2")
    wanted, name = 8, "shared-study"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, postgres_url, name, str(wanted)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    print(f"worker outputs: {outputs}")

    storage = optuna.storages.RDBStorage(postgres_url)
    try:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.remove_session()
        storage.engine.dispose()
    states = {trial.state for trial in trials}
    complete = [trial for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert states == {optuna.trial.TrialState.COMPLETE}, states
    assert len({trial.number for trial in trials}) == len(trials)
    print(f"{len(complete)} complete trials for {wanted} wanted")
    assert wanted <= len(complete) <= wanted + 1, len(complete)
