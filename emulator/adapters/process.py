"""What the process has only once: every piece of the emulator's process-wide state lives here, with its reason.

Two emulators in one process share nothing else (each owns its world, models, faults and clock; moto keeps their
accounts apart). These cannot be per emulator, because what they stand on exists once per process:
- Time. time-machine moves the whole process's clock (`datetime.now()`, `time.time()` in handlers and in moto): one
  virtual clock at a time may drive it, and emulators that run side by side share that clock (Emulator(clock=...)).
- IAM enforcement. moto decides whether to check IAM from one process-wide allowance
  (settings.INITIAL_NO_AUTH_ACTION_COUNT against ActionAuthenticatorMixin.request_count): enforcing it for one
  emulator enforces it for every account in the process.
- Environment variables. Handlers read their configuration and credentials from os.environ, which is one per process:
  handlers run one at a time (`HandlerTurn`).
- Threads. A thread learns its emulator's clock from the thread that created it (threading.Thread.__init__ is
  wrapped once); moto's interpreter keeps every thread it starts in one list (TMP_THREADS), pruned when an emulator
  closes.
- Installation. moto's classes are patched once per process (`install_once`).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import time_machine
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.stepfunctions.parser.utils import TMP_THREADS

from emulator.world.clock import VirtualClock

# --- time -------------------------------------------------------------------------------------------------------


class _Driver:
    """time-machine's travel, following one virtual clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.users = 0
        self.traveller = time_machine.travel(clock.now(), tick=False)
        self.coordinates: Any = None  # time_machine's Coordinates (not exported for typing)

    def move(self, when: datetime) -> None:
        self.coordinates.move_to(when)


_DRIVERS: dict[int, _Driver] = {}  # id(clock) -> its driver: at most one entry while emulators are open


def drive_time(clock: VirtualClock) -> None:
    """From now on the process's time is this clock's (emulators sharing a clock count their uses)."""
    driver = _DRIVERS.get(id(clock))
    if driver is None:
        if time_machine.traveller_stack:
            raise RuntimeError("another virtual clock already drives this process's time: share it (Emulator(clock=...))")
        driver = _DRIVERS[id(clock)] = _Driver(clock)
        driver.coordinates = driver.traveller.start()
        clock.watch(driver.move)
    driver.users += 1


def release_time(clock: VirtualClock) -> None:
    driver = _DRIVERS[id(clock)]
    driver.users -= 1
    if driver.users == 0:
        clock.unwatch(driver.move)
        driver.traveller.stop()
        del _DRIVERS[id(clock)]


# --- IAM enforcement ---------------------------------------------------------------------------------------------


def enforce_iam(on: bool) -> None:
    """moto checks IAM once its no-auth allowance is used up: 0 enforces from the next request, infinity never."""
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if on else float("inf")
    ActionAuthenticatorMixin.request_count = 0


def enforcing() -> bool:
    return bool(ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


# --- environment variables: one handler at a time -------------------------------------------------------------------


class HandlerTurn:
    """One handler at a time (they share os.environ). A handler may sleep on the virtual clock while it runs (its SDK
    retries); a thread waiting for its turn counts as asleep meanwhile, or time could never move. It counts as asleep
    exactly while another thread has the turn: not once the turn is free (it is about to take it), nor once it has it
    (with a plain lock, "locked" stayed true for the new holder until it left the wait, and time jumped under it)."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._holder: int | None = None

    @contextlib.contextmanager
    def taken(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._turn:
            free = self._holder is None
            if free:
                self._holder = me
        if not free:
            clock: VirtualClock | None = getattr(threading.current_thread(), "emulated_clock", None)
            with clock.waiting(lambda: self._holder not in (None, me)) if clock is not None else contextlib.nullcontext(), self._turn:
                while self._holder is not None:
                    self._turn.wait()
                self._holder = me
        try:
            yield
        finally:
            with self._turn:
                self._holder = None
                self._turn.notify()


# The images DescribeImages may not list yet [EC2-EC] (emulator/adapters/ec2.py), set for one DescribeImages request
# only: moto's own uses of its backend's describe_images (tagging a new image, launching from it) see every image.
NOT_LISTED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("not_listed", default=frozenset())

HANDLER_TURN = HandlerTurn()


# --- threads -----------------------------------------------------------------------------------------------------


def _inherit_clock(original: Any) -> Any:
    """moto's interpreter runs the program, each task (for its timeout) and Map/Parallel branches in threads of their
    own: a thread starts with the clock of the thread that created it."""

    def init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        clock = getattr(threading.current_thread(), "emulated_clock", None)
        if clock is not None:
            self.emulated_clock = clock  # type: ignore[attr-defined]

    return init


def forget_finished_threads() -> None:
    """moto's interpreter keeps every thread it starts in a module-level list (TMP_THREADS) and never empties it. A
    finished thread still holds its clock, and through the clock's timers the whole emulator: every emulator a process
    opened stayed in memory, and each full garbage collection walked them all again."""
    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def counted(thread: threading.Thread) -> threading.Thread:
    """Keep a thread the emulator starts for moto's interpreter where moto keeps its own (it joins them on reset)."""
    TMP_THREADS.append(thread)
    return thread


# --- installation ------------------------------------------------------------------------------------------------

_INSTALLED: set[str] = set()  # names of what was installed in this process


def install_once(name: str, install: Callable[[], None]) -> None:
    if name not in _INSTALLED:
        install()
        _INSTALLED.add(name)


def install() -> None:
    # Replaces threading.Thread.__init__ for the process (threads carry no clock in moto or the standard library).
    threading.Thread.__init__ = _inherit_clock(threading.Thread.__init__)  # type: ignore[method-assign]
