"""Running a parser in a bounded child process (apps.core.bounded)."""

from __future__ import annotations

import os
import time

import pytest

from apps.core.bounded import BoundExceededError, run_bounded

LIMITS = {"timeout": 5.0, "cpu_seconds": 2, "memory_bytes": 256 * 1024 * 1024}


def _add(a, b, *, times=1):
    return {"sum": (a + b) * times, "pid": os.getpid()}


def _sleep():
    time.sleep(60)


def _spin():
    while True:
        pass


def _hog():
    return len(bytearray(2 * 1024 * 1024 * 1024))


def _fail():
    raise ValueError("no such thing")


def _unserializable():
    return object()


def _exit_early():
    os._exit(0)


def test_the_result_comes_back_from_another_process():
    result = run_bounded(_add, 2, 3, times=2, **LIMITS)
    assert result["sum"] == 10
    assert result["pid"] != os.getpid()


def test_the_wall_clock_deadline_kills_the_child():
    started = time.monotonic()
    with pytest.raises(BoundExceededError, match="time limit"):
        run_bounded(_sleep, **{**LIMITS, "timeout": 0.5})
    assert time.monotonic() - started < 3


def test_the_cpu_limit_stops_a_busy_child():
    started = time.monotonic()
    with pytest.raises(BoundExceededError, match="CPU time limit"):
        run_bounded(_spin, **{**LIMITS, "timeout": 30.0, "cpu_seconds": 1})
    assert time.monotonic() - started < 10


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_the_memory_limit_stops_a_greedy_child():
    with pytest.raises(BoundExceededError, match="out of memory"):
        run_bounded(_hog, **LIMITS)


@pytest.mark.parametrize(
    ("func", "says"),
    [
        (_fail, "ValueError: no such thing"),
        (_unserializable, "TypeError"),
        (_exit_early, "no result"),
    ],
)
def test_a_child_that_fails_is_reported_as_such(func, says):
    with pytest.raises(BoundExceededError, match=says):
        run_bounded(func, **LIMITS)


def test_the_parent_goes_on_after_many_children():
    for n in range(20):
        assert run_bounded(_add, n, 1, **LIMITS)["sum"] == n + 1
