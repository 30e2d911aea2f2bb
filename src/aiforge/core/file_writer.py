"""Run files written off the training loop: checkpoints and the metric history go to disk on
one background thread, in the order they were handed over, while the next epoch trains."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from aiforge.core.logger import logger

MAX_PENDING = 8  # jobs waiting at once, beyond which the loop waits for the disk


class BackgroundWriter:
    """Runs write jobs on one thread, first in, first out.

    A job must only touch a snapshot (never tensors the loop goes on changing). A job with a
    ``key`` (its file) replaces a job of the same key that has not started yet: on a slow disk
    the newest checkpoint wins and the loop does not wait. A job's error is raised on the
    loop's thread at the next :meth:`submit` or at :meth:`flush`; leaving the ``with`` block
    waits for every job, so no write is lost when the loop ends or fails.
    """

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._executor: ThreadPoolExecutor | None = None  # started on the first job
        self._pending: deque[Future[None]] = deque()
        self._queued: dict[object, Future[None]] = {}  # the latest job of each key

    def submit(self, job: Callable[[], None], key: object = None) -> None:
        # Errors first: a job that a failed run would never replace must not be dropped.
        while self._pending and (self._pending[0].done() or len(self._pending) >= self.max_pending):
            self._pending.popleft().result()  # raises the job's error here
        superseded = self._queued.pop(key, None) if key is not None else None
        if superseded is not None and superseded.cancel():
            self._pending.remove(superseded)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiforge-writer")
        future = self._executor.submit(job)
        self._pending.append(future)
        if key is not None:
            self._queued[key] = future

    def flush(self) -> None:
        """Wait for every job handed over so far; raise the first error among them."""
        first_error: BaseException | None = None
        while self._pending:
            error = self._pending.popleft().exception()
            first_error = first_error or error
        self._queued.clear()
        if first_error is not None:
            raise first_error

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
            return
        try:  # the error in flight is the one to report; a failed write is only worth a warning
            self.close()
        except Exception as write_error:
            logger.warning(f"A run file could not be written: {write_error}")


class InlineWriter(BackgroundWriter):
    """Writes at once, on the caller's thread (callbacks used outside a run, tests)."""

    def submit(self, job: Callable[[], None], key: object = None) -> None:
        job()
