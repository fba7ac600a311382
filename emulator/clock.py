"""A virtual clock for the emulator: simulated time only moves when every running execution is waiting.

Each Step Functions execution counts as a participant from StartExecution until it ends. Wait states and retry
back-off call `sleep`, which registers a wake-up time instead of sleeping. When all participants are asleep, the
clock jumps to the earliest wake-up time. time-machine makes every `datetime.now()` / `time.time()` in the process
(handlers, moto's S3 and EC2 emulation, execution history timestamps) read this clock, so a 48-hour restore runs in
seconds with realistic timestamps, and concurrent executions keep their relative timing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine

# How often a sleeper re-checks for an interrupt (StopExecution): real seconds.
_POLL = 0.05


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self._cond = threading.Condition()
        self._now = start.astimezone(UTC)
        self._participants = 0
        self._wakeups: list[datetime] = []
        self._traveller = time_machine.travel(self._now, tick=False)
        self._coordinates: Any = None  # time_machine's Coordinates (not exported for typing)

    def __enter__(self) -> VirtualClock:
        self._coordinates = self._traveller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._traveller.stop()
        self._coordinates = None

    def now(self) -> datetime:
        with self._cond:
            return self._now

    def enter(self) -> None:
        with self._cond:
            self._participants += 1

    def leave(self) -> None:
        with self._cond:
            self._participants -= 1
            self._advance_if_all_asleep()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep time still while the caller sets things up (e.g. starts several executions at one instant)."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def sleep(self, seconds: float, interrupt: threading.Event | None = None) -> None:
        with self._cond:
            wake = self._now + timedelta(seconds=max(0.0, seconds))
            self._wakeups.append(wake)
            try:
                self._advance_if_all_asleep()
                while self._now < wake and not (interrupt is not None and interrupt.is_set()):
                    self._cond.wait(_POLL)
            finally:
                self._wakeups.remove(wake)

    def advance(self, seconds: float) -> None:
        """Move time forward by hand (tests that step through a scenario without executions)."""
        with self._cond:
            self._move_to(self._now + timedelta(seconds=seconds))

    def _advance_if_all_asleep(self) -> None:
        # A woken sleeper still counts until it runs, and its wake-up time is <= now, so time cannot skip past it.
        if self._wakeups and len(self._wakeups) >= self._participants:
            earliest = min(self._wakeups)
            if earliest > self._now:
                self._move_to(earliest)

    def _move_to(self, when: datetime) -> None:
        self._now = when
        if self._coordinates is not None:
            self._coordinates.move_to(when)
        self._cond.notify_all()
