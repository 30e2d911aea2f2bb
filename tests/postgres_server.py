"""A throwaway PostgreSQL server for tests: the multi-machine sweep path needs a real RDB storage.

The server listens on a unix socket in a private temporary folder and on no TCP port at all, so a
test never depends on a free port. PostgreSQL refuses to run as root, so under root (as in CI) the
server runs as the ``postgres`` system user, in a folder that user owns. Readiness is ``pg_ctl -w``
(which polls the server the way ``pg_isready`` does), never a sleep.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The superuser initdb creates; clients connect as it over the socket with trust authentication.
SUPERUSER = "aiforge"
# The system user that runs the server when the tests run as root (Debian's postgresql package).
SERVER_USER = "postgres"
# How long pg_ctl may wait for the server to start or stop: a hang guard, not a timing assumption.
PG_CTL_WAIT_S = 120


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        folder = Path(on_path).resolve().parent
        if (folder / "pg_ctl").exists():
            return folder

    def version(folder: str) -> tuple[int, ...]:
        match = re.search(r"/postgresql/([\d.]+)/bin", folder)
        return tuple(int(part) for part in match.group(1).split(".") if part) if match else ()

    candidates = [
        folder
        for folder in glob.glob("/usr/lib/postgresql/*/bin")
        if os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "pg_ctl"))
    ]
    return Path(max(candidates, key=version)) if candidates else None


@dataclass
class PostgresServer:
    """A running throwaway server; ``url(database)`` and ``new_database()`` give SQLAlchemy URLs."""

    bin_dir: Path
    root: Path
    as_server_user: bool
    _databases: int = field(default=0)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the ``postgres`` user under root; raise with its output on failure."""
        command = [str(self.bin_dir / program), *args]
        if self.as_server_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        # cwd: the server user may not be able to enter the caller's working folder (/root).
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else "(no server log)"
            raise RuntimeError(
                f"{' '.join(command)} failed with exit {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\nserver log:\n{log}"
            )
        return result

    def start(self) -> None:
        """initdb, configure for no TCP and a private socket, start and wait until it accepts connections."""
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = (
            "\n# Test server: no TCP, a private unix socket; durability is not needed.\n"
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        wait = ("-w", "-t", str(PG_CTL_WAIT_S))
        self._run("pg_ctl", "start", *wait, "-D", str(self.data_dir), "-l", str(self.log_file))
        pg_isready = self.bin_dir / "pg_isready"
        if pg_isready.exists():
            self._run("pg_isready", "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", "postgres")

    def stop(self) -> None:
        """Stop the server (fast shutdown: disconnect clients) if it is running."""
        if (self.data_dir / "postmaster.pid").exists():
            wait = ("-w", "-t", str(PG_CTL_WAIT_S))
            self._run("pg_ctl", "stop", *wait, "-m", "fast", "-D", str(self.data_dir))

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg2 over the unix socket)."""
        return f"postgresql+psycopg2://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def new_database(self) -> str:
        """Create a fresh, empty database and return its SQLAlchemy URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        self._run("createdb", "-h", str(self.socket_dir), "-U", SUPERUSER, name)
        return self.url(name)


def _missing(reason: str) -> None:
    """No server can be started: a failure in CI (which installs PostgreSQL), a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs Debian's postgresql package)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install postgresql` to run this test")


def postgres_server() -> Iterator[PostgresServer]:
    """A fixture body: start a throwaway server, yield it, stop it and delete its folder."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _missing("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin")
    assert bin_dir is not None
    as_server_user = os.geteuid() == 0
    if as_server_user:
        try:
            server_user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            _missing(f"running as root, but there is no {SERVER_USER!r} system user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            _missing("running as root, but `runuser` is missing to run PostgreSQL as another user")
    # Short path under the system temp folder: a unix socket path is limited to about 100 bytes.
    root = Path(tempfile.mkdtemp(prefix="aiforge-pg-"))
    server = PostgresServer(bin_dir=bin_dir, root=root, as_server_user=as_server_user)
    try:
        if as_server_user:
            os.chown(root, server_user.pw_uid, server_user.pw_gid)
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
