"""A virtual clock for the emulator: simulated time only moves when every running execution is waiting.

Each Step Functions execution counts as a participant from StartExecution until it ends. Wait states and retry
back-off call `sleep`, which registers a wake-up time instead of sleeping. When all participants are asleep, the
clock jumps to the earliest wake-up time. Whoever watches the clock hears of each move: the adapters make every
`datetime.now()` / `time.time()` in the process read it (emulator/adapters/process.py), so a 48-hour restore runs in
seconds with realistic timestamps, and concurrent executions keep their relative timing.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

# How often a sleeper re-checks for an interrupt (StopExecution): real seconds.
_POLL = 0.05


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self._cond = threading.Condition()
        self._now = start.astimezone(UTC)
        self._participants = 0
        self._wakeups: list[datetime] = []
        self._timers: list[tuple[datetime, int, Callable[[], None]]] = []  # (when, order, what): deliveries at an instant
        self._order = itertools.count()
        self._running_timers = 0
        self._interrupts: list[threading.Event] = []  # of the sleepers that can be woken early (a token, a stop)
        self._blocked: list[Callable[[], bool]] = []  # of the waiters for a lock: still blocked?
        self._watchers: list[Callable[[datetime], None]] = []  # told of every move, under the clock's lock

    def watch(self, watcher: Callable[[datetime], None]) -> None:
        with self._cond:
            self._watchers.append(watcher)

    def unwatch(self, watcher: Callable[[datetime], None]) -> None:
        with self._cond:
            self._watchers.remove(watcher)

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
            if interrupt is not None:
                self._interrupts.append(interrupt)
            try:
                self._advance_if_all_asleep()
                while self._now < wake and not (interrupt is not None and interrupt.is_set()):
                    self._cond.wait(_POLL)
            finally:
                self._wakeups.remove(wake)
                if interrupt is not None:
                    self._interrupts.remove(interrupt)

    def nudge(self) -> None:
        """Someone set a sleeper's interrupt, or freed a waiter: let it go now rather than at its next poll, and let
        time move on if everyone is asleep again."""
        with self._cond:
            self._advance_if_all_asleep()
            self._cond.notify_all()

    @contextlib.contextmanager
    def waiting(self, blocked: Callable[[], bool]) -> Iterator[None]:
        """The caller waits for another participant (a lock it holds): while `blocked()` it counts as asleep, with no
        wake-up of its own, so the holder's own sleeps can still move time on; once it is free to go, time waits."""
        with self._cond:
            never = self._now + timedelta(days=3650)
            self._wakeups.append(never)
            self._blocked.append(blocked)
            self._advance_if_all_asleep()
        try:
            yield
        finally:
            with self._cond:
                self._wakeups.remove(never)
                self._blocked.remove(blocked)

    def call_at(self, when: datetime, action: Callable[[], None]) -> None:
        """Run `action` (in a thread of its own) when simulated time reaches `when`: an event delivery, a service's
        own completion. A timer is a wake-up time like a sleeper's, but it holds nobody: time jumps to it only while
        something else waits, or when a test advances the clock by hand."""
        with self._cond:
            heapq.heappush(self._timers, (max(when, self._now), next(self._order), action))
            if self._timers[0][0] <= self._now:
                self._fire_due()
            else:
                self._advance_if_all_asleep()

    def advance(self, seconds: float) -> None:
        """Move time forward by hand (tests that step through a scenario without executions), stopping at each timer
        on the way and letting its action finish, so what it does happens at its own instant."""
        with self._cond:
            target = self._now + timedelta(seconds=seconds)
            while True:
                while self._running_timers:
                    self._cond.wait(_POLL)
                if not self._timers or self._timers[0][0] > target:
                    break
                self._move_to(max(self._now, self._timers[0][0]))
            if target > self._now:
                self._move_to(target)
            while self._running_timers:
                self._cond.wait(_POLL)

    def _advance_if_all_asleep(self) -> None:
        # A woken sleeper still counts until it runs, and its wake-up time is <= now, so time cannot skip past it; one
        # whose interrupt is set is about to wake: it is not asleep any more.
        if any(event.is_set() for event in self._interrupts) or not all(blocked() for blocked in self._blocked):
            return
        if self._wakeups and len(self._wakeups) >= self._participants:
            earliest = min([*self._wakeups, *(t[0] for t in self._timers[:1])])
            if earliest > self._now:
                self._move_to(earliest)
            elif self._timers and self._timers[0][0] <= self._now:
                self._fire_due()

    def _move_to(self, when: datetime) -> None:
        self._now = when
        for watcher in self._watchers:
            watcher(when)
        self._fire_due()
        self._cond.notify_all()

    def _fire_due(self) -> None:
        # Each due action runs as a participant, so time cannot move on before it has done its work.
        while self._timers and self._timers[0][0] <= self._now:
            _, _, action = heapq.heappop(self._timers)
            self._participants += 1
            self._running_timers += 1
            threading.Thread(target=self._run_timer, args=(action,), daemon=True).start()

    def _run_timer(self, action: Callable[[], None]) -> None:
        threading.current_thread().emulated_clock = self  # type: ignore[attr-defined]  # its SDK retries sleep here too
        try:
            action()
        finally:
            with self._cond:
                self._running_timers -= 1
            self.leave()
