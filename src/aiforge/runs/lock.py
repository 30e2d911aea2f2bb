"""One writer per run folder: the process that trains in it (or rewrites its report) holds a lock.

The lock is ``flock`` on a file in the folder, so the operating system frees it when its process
dies, however it dies: the file a killed process leaves behind is simply locked again. The file
records the holder's PID, host and purpose, for the message that refuses a second writer. A
second lock in the same process is refused too (two resumes of one folder in a notebook or in
threads): a step that writes into a folder its caller holds (a run's own report) is handed the
caller's :class:`RunLock` instead of taking its own.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
from pathlib import Path
from types import TracebackType

from aiforge.errors import AIForgeError, RunFolderInUse
from aiforge.runs.files import linked_file_error

LOCK_FILE = ".aiforge.lock"

_held: dict[Path, tuple[int, str]] = {}  # lock file -> (descriptor, purpose), for this process's locks
_guard = threading.Lock()
_fork_hook_registered = False


class RunLock:
    """A held lock on a run folder; :meth:`release` (or leaving the ``with`` block) gives it up."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._released = False

    @property
    def folder(self) -> Path:
        """The run folder this lock holds (resolved)."""
        return self.path.parent

    def release(self) -> None:
        """Give the lock up and delete its file. Safe to call twice."""
        with _guard:
            if self._released:
                return
            self._released = True
            entry = _held.pop(self.path, None)
            if entry is None:  # a forked child's copy: the child holds nothing
                return
            descriptor, _ = entry
            with contextlib.suppress(OSError):  # the folder may be gone (an unused run folder)
                self.path.unlink()  # while still locked: nobody else locks the old file after this
            os.close(descriptor)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def acquire_run_lock(run_dir: Path, purpose: str) -> RunLock:
    """Lock ``run_dir``, or raise :class:`RunFolderInUse` naming who holds it: another process,
    or this one (a folder is locked once, whoever in this process asks again is refused).

    ``purpose`` (e.g. ``"aiforge run --resume"``) is recorded for that message. Never waits.
    """
    path = Path(run_dir).resolve() / LOCK_FILE
    with _guard:
        if path in _held:
            holder = f"{_held[path][1]} in this process (PID {os.getpid()})"
            raise RunFolderInUse(_in_use_message(path, Path(run_dir), holder))
        descriptor = _lock_file(path, Path(run_dir))
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose}
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, (json.dumps(record) + "\n").encode("utf-8"), 0)
        except OSError:
            pass  # the lock holds without the record; a refusal then names no PID
        _held[path] = (descriptor, purpose)
        _forget_locks_in_forked_children()
        return RunLock(path)


def _lock_file(path: Path, run_dir: Path) -> int:
    """An open descriptor of ``path`` holding its flock; the file is the one at ``path`` now."""
    import fcntl

    for _ in range(100):  # another process may delete the file between our open and our lock
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise linked_file_error(
                    path, "a run folder's lock file must be a plain file", "Delete the link and try again"
                ) from None
            raise AIForgeError(f"cannot lock the run folder {run_dir}: {err.strerror or err}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(descriptor)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AIForgeError(f"cannot lock the run folder {run_dir}: {err.strerror or err}") from None
            raise RunFolderInUse(_in_use_message(path, run_dir)) from None
        if _same_file(descriptor, path):
            return descriptor
        os.close(descriptor)  # its holder released it and deleted it meanwhile: lock the new one
    raise AIForgeError(f"cannot lock the run folder {run_dir}: its lock file keeps changing")


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _in_use_message(path: Path, run_dir: Path, holder: str | None = None) -> str:
    advice = (
        "Wait until that process ends, or stop it; a lock left by a process that died is taken "
        "over by the next command"
        if holder is None
        else "Let that one finish first: a run folder has one writer at a time"
    )
    if holder is None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            holder = f"{record['purpose']} (PID {int(record['pid'])} on {record['host']})"
        except (OSError, ValueError, KeyError, TypeError):
            holder = "another process (it has not recorded its PID yet)"
    return f"the run folder {run_dir} is in use: {holder} holds its lock ({path.name}). {advice}"


def _forget_locks_in_forked_children() -> None:
    """A forked child (a DataLoader worker) shares the parent's lock; it closes its copies, so a
    killed parent's lock is free at once even while such children are still exiting."""
    global _fork_hook_registered
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_close_inherited)
        _fork_hook_registered = True


def _close_inherited() -> None:
    global _guard
    _guard = threading.Lock()  # the parent's may have been held by another thread at the fork
    for descriptor, _ in _held.values():
        with contextlib.suppress(OSError):
            os.close(descriptor)
    _held.clear()
