"""SIGINT and SIGTERM: stop at the next safe point with a checkpoint, or at once on a second signal."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from aiforge.errors import RunInterrupted
from aiforge.runtime.log import logger

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """Catches SIGINT/SIGTERM while a run is in progress.

    While ``armed`` (the training loop is running), the first signal only sets ``signum``: the
    loop finishes its optimizer step, writes a checkpoint and raises :class:`RunInterrupted`.
    Unarmed, or on a second signal, :class:`RunInterrupted` is raised at once.
    Handlers are installed only in the main thread (Python allows no other).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.armed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None or not self.armed:
            raise RunInterrupted(signum)
        self.signum = signum
        logger.warning(
            f"{signal.Signals(signum).name} received: stopping after the current optimizer step and "
            "saving a checkpoint (send it again to stop at once)"
        )
