"""Run a parser of untrusted input in a child process with hard bounds.

Guards inside a parser (depth limits, caught exceptions) stop the attacks one
knows of; a child process bounds the rest. ``run_bounded`` forks (the child
has every module the parent imported, so it starts in milliseconds), caps the
child's CPU time and address space with ``resource`` limits, and kills it at
a wall-clock deadline. The function's JSON-ready result comes back through a
pipe; nothing else does, and the child never returns into the caller's code
(it leaves with ``os._exit``, so no database connection, atexit handler or
buffered output of the parent is touched).

The function must not use the database or the network: it gets its inputs as
arguments and answers with plain data.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any, NoReturn

MAX_RESULT_BYTES = 1024 * 1024


class BoundExceededError(Exception):
    """The child ran out of time or memory, crashed, or answered nonsense."""


def run_bounded(
    func: Callable[..., Any],
    *args: Any,
    timeout: float,
    cpu_seconds: int,
    memory_bytes: int,
    **kwargs: Any,
) -> Any:
    """``func(*args, **kwargs)`` in a child limited to ``cpu_seconds`` of CPU,
    ``memory_bytes`` of address space beyond what it starts with, and
    ``timeout`` seconds of wall time; its result (JSON-ready), or
    BoundExceededError."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        _child(write_fd, func, args, kwargs, cpu_seconds, memory_bytes)
    os.close(write_fd)
    try:
        output = _read(read_fd, pid, time.monotonic() + timeout)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise BoundExceededError(_signal_name(os.WTERMSIG(status)))
    try:
        answer = json.loads(output)
    except ValueError:
        raise BoundExceededError("the child answered no result") from None
    if not isinstance(answer, dict) or "error" in answer:
        detail = answer.get("error") if isinstance(answer, dict) else None
        raise BoundExceededError(f"the child failed: {detail}")
    return answer["result"]


def _child(write_fd, func, args, kwargs, cpu_seconds, memory_bytes) -> NoReturn:
    status = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        start = _address_space()
        if start is not None:
            limit = start + memory_bytes
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            payload = json.dumps({"result": func(*args, **kwargs)})
        except MemoryError:
            payload = json.dumps({"error": "out of memory"})
        except BaseException as exc:  # reported to the parent, which decides
            payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]})
        else:
            status = 0
        data = payload.encode()
        while data:
            data = data[os.write(write_fd, data) :]
    finally:
        os._exit(status)


def _read(fd: int, pid: int, deadline: float) -> bytes:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            _kill(pid)
            raise BoundExceededError("the time limit was reached")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESULT_BYTES:
            _kill(pid)
            raise BoundExceededError("the child answered too much")
        chunks.append(chunk)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _address_space() -> int | None:
    """The process's address space now, in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _signal_name(number: int) -> str:
    if number == signal.SIGXCPU:
        return "the CPU time limit was reached"
    try:
        return f"the child was killed by {signal.Signals(number).name}"
    except ValueError:
        return f"the child was killed by signal {number}"
