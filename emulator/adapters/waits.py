"""Waiting on the virtual clock from moto's threads: what the Step Functions adapters and the Lambda runtime share.

A thread knows its emulator's clock (`emulated_clock`, set on the thread: by the execution's worker, by a timer, or
inherited from the thread that started it: emulator/adapters/process.py). Sleeps, back-off and callback waits go to
that clock; a frame of moto's interpreter can be woken early when its execution stops, fails or times out.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from emulator.adapters.process import counted
from emulator.world.clock import VirtualClock


def bind_clock(clock: VirtualClock | None) -> None:
    """The clock the current thread's waits and retries use (an execution thread, or a test's own thread)."""
    threading.current_thread().emulated_clock = clock  # type: ignore[attr-defined]


def current_clock() -> VirtualClock | None:
    clock: VirtualClock | None = getattr(threading.current_thread(), "emulated_clock", None)
    return clock


def sleep(seconds: float, interrupt: threading.Event | None = None) -> None:
    clock = current_clock()
    if clock is not None:
        clock.sleep(seconds, interrupt)
    elif interrupt is not None:
        interrupt.wait(seconds)
    else:
        time.sleep(seconds)


class RetrySleep:
    """Stands in for the `time` module inside moto's retrier and botocore's endpoint: back-off on the virtual clock."""

    @staticmethod
    def sleep(seconds: float) -> None:
        sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def root_of(env: Any) -> Any:
    """The execution's own environment (a Map iteration or Parallel branch runs in a frame of it)."""
    return getattr(env.event_manager, "emulated_root", env)


@contextlib.contextmanager
def woken_by_state_change(env: Any, *others: list[threading.Event]) -> Iterator[threading.Event]:
    """An event set when the program state of `env` or of its whole execution changes (stopped, failed, timed out),
    and by whoever holds one of `others`. moto's own program_state_event is set and cleared at once (a sleeper
    polling it misses it), and a Map iteration's frames do not hear of a StopExecution."""
    wake = threading.Event()
    root = root_of(env)
    lists = [*others, *(e.__dict__.setdefault("emulated_wakes", []) for e in {id(env): env, id(root): root}.values())]
    for waiting in lists:
        waiting.append(wake)
    try:
        yield wake
    finally:
        for waiting in lists:
            waiting.remove(wake)


def running(env: Any) -> bool:
    return bool(env.is_running() and root_of(env).is_running())


def counted_thread(target: Callable[[], None], name: str | None = None) -> threading.Thread:
    """A thread that is a participant of the clock while it runs: entered now, before it starts (time cannot skip
    its first step), left when its work ends. The caller starts it."""
    clock = current_clock()

    def run() -> None:
        try:
            target()
        finally:
            if clock is not None:
                clock.leave()

    thread = counted(threading.Thread(target=run, name=name, daemon=True))
    if clock is not None:
        clock.enter()
    return thread
