"""A tracking backend that fails mid-run costs its own tracking, never the run: one rule shared by
the TensorBoard, CSV and W&B trackers (MLflow's callback keeps its own, with store details, and
shares the warning)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aiforge.runtime.log import logger
from aiforge.tracking.tracker import Tracker

Method = TypeVar("Method", bound=Callable[..., Any])


class IsolatedTracker(Tracker):
    """A tracker whose :func:`guarded` hooks stop it after the first failure (a full disk, a gone
    server): one warning names the backend and the error, the traceback goes to the debug log, and
    the rest of the run is not tracked by it. Only the main process tracks (``active``)."""

    backend: str = "tracking"  # the name in the warning: TensorBoard, CSV, W&B
    active: bool = True
    failed: bool = False

    def stop_tracking(self, what: str, error: BaseException) -> None:
        """Stop this backend after ``error`` while ``what``; the run goes on."""
        self.active = False
        self.failed = True
        warn_tracking_stopped(self.backend, what, error)


def warn_tracking_stopped(
    backend: str, what: str, error: BaseException, where: str = "", secret: str = ""
) -> None:
    """Every backend's one warning when it stops (MLflow's too): what failed, ``where`` (MLflow's
    store), the error without ``secret`` (a password in a URI); the traceback to the debug log."""
    logger.opt(exception=error).debug(f"{backend} failed while {what}")
    reason = " ".join(str(error).split("\n[SQL:")[0].split())  # SQLAlchemy's statement: debug log only
    reason = (reason.replace(secret, "***") if secret else reason)[:300]
    where = f" {where}" if where else ""
    logger.warning(
        f"{backend} tracking stopped: {what} failed{where} ({type(error).__name__}: {reason}); "
        f"the rest of the run is not tracked in {backend}, and the run folder keeps every "
        "result (details in the debug log)"
    )


def guarded(what: str) -> Callable[[Method], Method]:
    """Run the hook only while its tracker is active; an exception (not a Ctrl-C) stops the tracker
    (:meth:`IsolatedTracker.stop_tracking`) instead of reaching the run."""

    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        def hook(self: IsolatedTracker, *args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return None
            try:
                return method(self, *args, **kwargs)
            except Exception as err:
                self.stop_tracking(what, err)
                return None

        return hook  # type: ignore[return-value]

    return decorate
