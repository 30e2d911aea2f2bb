"""The background writer: order kept, errors surfaced on the caller's thread, nothing lost."""

from __future__ import annotations

import threading
import time

import pytest

from aiforge.core.file_writer import BackgroundWriter, InlineWriter


def test_jobs_run_in_order_on_another_thread() -> None:
    done: list[tuple[int, str]] = []

    def job(number: int) -> None:
        time.sleep(0.005 if number % 2 else 0)
        done.append((number, threading.current_thread().name))

    with BackgroundWriter(max_pending=2) as writer:
        for number in range(10):
            writer.submit(lambda number=number: job(number))
    assert [number for number, _ in done] == list(range(10))
    assert all(name.startswith("aiforge-writer") for _, name in done)


def test_leaving_the_block_waits_for_every_job() -> None:
    release = threading.Event()
    done: list[str] = []

    def slow() -> None:
        release.wait(5)
        done.append("written")

    with BackgroundWriter() as writer:
        writer.submit(slow)
        assert done == []  # the caller went on without waiting
        release.set()
    assert done == ["written"]


def test_a_failed_job_raises_at_the_next_submit() -> None:
    writer = BackgroundWriter()

    def fails() -> None:
        raise OSError(28, "No space left on device")

    writer.submit(fails)
    time.sleep(0.05)
    with pytest.raises(OSError, match="No space left"):
        writer.submit(lambda: None)
    writer.close()


def test_a_failed_job_raises_when_the_block_ends() -> None:
    with pytest.raises(OSError, match="disk full"), BackgroundWriter() as writer:
        writer.submit(lambda: (_ for _ in ()).throw(OSError("disk full")))


def test_an_error_in_flight_wins_over_a_failed_write(warnings: list[str]) -> None:
    with pytest.raises(KeyError), BackgroundWriter() as writer:
        writer.submit(lambda: (_ for _ in ()).throw(OSError("disk full")))
        raise KeyError("the loop's own error")
    assert any("could not be written: disk full" in line for line in warnings)


def test_a_slow_disk_bounds_the_jobs_waiting() -> None:
    release = threading.Event()
    writer = BackgroundWriter(max_pending=2)
    writer.submit(lambda: release.wait(5))
    writer.submit(lambda: None)
    blocked = threading.Thread(target=writer.submit, args=(lambda: None,))
    blocked.start()
    blocked.join(0.1)
    assert blocked.is_alive()  # the third job waits until the first is written
    release.set()
    blocked.join(5)
    assert not blocked.is_alive()
    writer.close()


def test_the_inline_writer_writes_at_once() -> None:
    done: list[str] = []
    InlineWriter().submit(lambda: done.append(threading.current_thread().name))
    assert done == [threading.current_thread().name]


def test_a_newer_job_for_the_same_file_replaces_one_that_has_not_started() -> None:
    release = threading.Event()
    written: list[str] = []
    with BackgroundWriter() as writer:
        writer.submit(lambda: (release.wait(5), written.append("slow disk")))
        for epoch in range(1, 6):  # the disk is busy: five checkpoints arrive meanwhile
            writer.submit(lambda epoch=epoch: written.append(f"last.pt {epoch}"), key="last.pt")
            writer.submit(lambda epoch=epoch: written.append(f"metrics {epoch}"), key="metrics.csv")
        release.set()
    assert written == ["slow disk", "last.pt 5", "metrics 5"]  # only the newest of each, in order


def test_a_failed_write_never_drops_a_queued_checkpoint() -> None:
    fail, gate = threading.Event(), threading.Event()
    written: list[str] = []
    writer = BackgroundWriter()

    def failing() -> None:
        fail.wait(5)
        raise OSError("metrics.csv: disk full")

    writer.submit(failing)
    writer.submit(lambda: gate.wait(5))  # the disk is busy: the next job stays queued
    writer.submit(lambda: written.append("last.pt 1"), key="last.pt")
    fail.set()
    time.sleep(0.1)
    with pytest.raises(OSError, match="disk full"):  # the run fails here, before replacing last.pt 1
        writer.submit(lambda: written.append("last.pt 2"), key="last.pt")
    gate.set()
    writer.close()
    assert written == ["last.pt 1"]
