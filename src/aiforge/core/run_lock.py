"""One writer per run folder: the process that trains in it (or rewrites its report) holds a lock.

The lock is ``flock`` on a file in the folder, so the operating system frees it when its process
dies, however it dies: the file a killed process leaves behind is simply locked again. The file
records the holder's PID, host and purpose, for the message that refuses a second writer. A
process may lock a folder it already holds (a run writes its own report); the lock ends with
the outermost release.
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

LOCK_FILE = ".aiforge.lock"

_held: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, how many holders in this process)
_guard = threading.Lock()
_fork_hook_registered = False


class RunLock:
    """A held lock on a run folder; :meth:`release` (or leaving the ``with`` block) gives it up."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._released = False

    def release(self) -> None:
        """Give the lock up; the last holder in this process deletes the file. Safe to call twice."""
        with _guard:
            if self._released:
                return
            self._released = True
            entry = _held.pop(self.path, None)
            if entry is None:  # a forked child's copy: the child holds nothing
                return
            descriptor, holders = entry
            if holders > 1:
                _held[self.path] = (descriptor, holders - 1)
                return
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
    """Lock ``run_dir`` for this process, or raise :class:`RunFolderInUse` naming who holds it.

    ``purpose`` (e.g. ``"aiforge run --resume"``) is recorded for that message. Never waits.
    """
    path = Path(run_dir).resolve() / LOCK_FILE
    with _guard:
        if path in _held:
            descriptor, holders = _held[path]
            _held[path] = (descriptor, holders + 1)
            return RunLock(path)
        descriptor = _lock_file(path, Path(run_dir))
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose}
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, (json.dumps(record) + "\n").encode("utf-8"), 0)
        except OSError:
            pass  # the lock holds without the record; a refusal then names no PID
        _held[path] = (descriptor, 1)
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
                raise AIForgeError(
                    f"{path} is a symbolic link; a run folder's lock file must be a plain file. "
                    "Delete the link and try again"
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


def _in_use_message(path: Path, run_dir: Path) -> str:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        holder = f"{record['purpose']} (PID {int(record['pid'])} on {record['host']})"
    except (OSError, ValueError, KeyError, TypeError):
        holder = "another process (it has not recorded its PID yet)"
    return (
        f"the run folder {run_dir} is in use: {holder} holds its lock ({path.name}). "
        "Wait until that process ends, or stop it; a lock left by a process that died is taken "
        "over by the next command"
    )


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
