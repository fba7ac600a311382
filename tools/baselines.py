"""The benchmark's baselines: the polling schedules the deployed handlers replaced, kept here to measure against.

The handlers have one schedule, the events schedule (functions/check_restore_status and functions/check_image_state),
and read no benchmark setting. A baseline reaches a stack the emulator deployed through `use(stack, profile)`: each
of the two functions' handler modules is replaced by a variant, its own file imported again under another module
name with the baseline's `step_seconds`, talking to AWS through the deployed module's clients.

  fixed-60s  every 60 s, as the original solution did (the same deadlines).
  tiered     the schedule before events. Copy: first check at the earliest typical completion of the class, tier
             and size, then every 2 % of the latest typical completion until then; after it every 5 % of the latest
             or of the time elapsed, whichever is longer; never more often than every 60 s. Image: 1, 2, 4 ... minutes,
             capped at a tenth of the planned time (at least 5 min), past the planned time every 10 % of the time
             elapsed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Protocol

from botocore.client import BaseClient

PROFILES = ("fixed-60s", "tiered")
FIXED_STEP = 60
# Check Restore Status, tiered: inside the window every 2 % of its latest end, after it every 5 %.
STEP_IN_WINDOW, STEP_AFTER_WINDOW = 0.02, 0.05
# Check Image State, tiered: 1, 2, 4 ... minutes, capped at a tenth of the planned time (at least 5 min); later than
# planned, every 10 % of the time elapsed.
FIRST_STEP, MIN_CAP, LATE_STEP = 60, 300, 0.10


def restore_step_fixed(window: tuple[int, int], elapsed: float, confirmed: bool) -> float:
    return FIXED_STEP


def restore_step_tiered(window: tuple[int, int], elapsed: float, confirmed: bool) -> float:
    earliest, latest = window
    if elapsed < earliest:
        return earliest - elapsed
    if elapsed < latest:
        return max(FIXED_STEP, STEP_IN_WINDOW * latest)
    return max(FIXED_STEP, STEP_AFTER_WINDOW * max(latest, elapsed))


def image_step_fixed(checks: int, elapsed: float, planned: int) -> float:
    return FIXED_STEP


def image_step_tiered(checks: int, elapsed: float, planned: int) -> float:
    step: float = min(max(MIN_CAP, planned // 10), FIRST_STEP * 2 ** min(checks - 1, 12))
    if elapsed > planned:  # later than planned: look less often as it drags on, so the worst case stays cheap
        step = max(step, LATE_STEP * elapsed)
    return step


# The deployed function -> the baseline's replacement for its handler's step_seconds, per profile.
STEPS: dict[str, dict[str, Callable[..., float]]] = {
    "CheckRestoreStatusFunction": {"fixed-60s": restore_step_fixed, "tiered": restore_step_tiered},
    "CheckImageStateFunction": {"fixed-60s": image_step_fixed, "tiered": image_step_tiered},
}


class DeployedFunction(Protocol):
    """What this module uses of a function the emulator deployed: its handler module (the emulator calls its
    lambda_handler) and its environment."""

    module: ModuleType
    environment: dict[str, str]


class DeployedStack(Protocol):
    @property
    def functions(self) -> Mapping[str, DeployedFunction]: ...


def variant(module: ModuleType, step_seconds: Callable[..., float], environment: Mapping[str, str]) -> ModuleType:
    """The handler `module` imported again from its file, as a module of its own (imported with the function's
    environment, as Lambda imports it), with `step_seconds` as its schedule and the deployed module's AWS clients."""
    source = module.__file__
    spec = importlib.util.spec_from_file_location(f"{module.__name__}.baseline", source) if source else None
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the handler file of {module.__name__} again")
    copy = importlib.util.module_from_spec(spec)
    with _environment(environment):
        spec.loader.exec_module(copy)
    if not callable(getattr(copy, "step_seconds", None)):
        raise AttributeError(f"{source} has no step_seconds to replace")
    for name, value in vars(module).items():
        if isinstance(value, BaseClient):
            setattr(copy, name, value)
    copy.step_seconds = step_seconds  # type: ignore[attr-defined]
    return copy


def use(stack: DeployedStack, profile: str) -> None:
    """From now on the stack's Check Restore Status and Check Image State poll by the baseline `profile`."""
    for logical_id, steps in STEPS.items():
        function = stack.functions[logical_id]
        function.module = variant(function.module, steps[profile], function.environment)


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
