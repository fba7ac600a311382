"""Step Functions as AWS runs it, fixed where moto 5.2.5's interpreter differs:

- Wait states and retry back-off sleep on the emulator's virtual clock instead of for real; so do the handlers'
  SDK retries, which run in the execution's thread. Each execution thread knows its emulator's clock.
- The history quota: Step Functions Standard fails an execution at 25,000 events, and event 25,000 is the
  `ExecutionFailed` itself (States.Runtime, "The execution reached the maximum number of history events (25000).");
  an `ExecutionSucceeded` that is event 25,000 succeeds (Step Functions Developer Guide, bp-history-limit and
  service quotas). moto lets the history grow without end.
- StartExecution without a name gets a UUID, as on AWS; moto names such an execution `None`.
- A Lambda API error reaches the state machine as `Lambda.<Code>` (e.g. Lambda.ServiceException); moto says
  `Exception`.
- Callback tasks (`.waitForTaskToken`) wait for their token, their `TimeoutSeconds` and their `HeartbeatSeconds` on
  the virtual clock (moto waits in real time); a missed heartbeat fails `States.HeartbeatTimeout` (moto says
  States.Timeout); SendTaskFailure keeps its `cause` (moto drops it); StopExecution ends a task waiting for a token
  (moto leaves it waiting).
- moto parses the definition and every JSONPath again on each use; both are parsed once here (speed only).
- Map iterations (and Parallel branches) run side by side in threads of their own; each counts as a participant of the
  virtual clock while it runs, and the state that waits for them counts as asleep, so time moves only when every
  iteration waits (moto's threads are invisible to the clock: one sleeping iteration let time jump under another).
- A StopExecution (or a failure, or the execution's timeout) ends a Wait state at once; moto's Wait sleeps on.
- Executions started by a task (`states:startExecution`, `.sync`, `.sync:2`) are real child executions on the same
  virtual clock: emulator/child_executions.py.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from botocore import endpoint as botocore_endpoint
from botocore.exceptions import ClientError
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskTimedOutEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import inline_iteration_component, job
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branch_worker, branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval import states as states_data
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatEndpoint, HeartbeatTimeoutError
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import StepFunctionResponse

from emulator import binding, child_executions

if TYPE_CHECKING:
    from emulator.clock import VirtualClock

HISTORY_QUOTA = 25_000  # Step Functions Standard: hard limit on an execution's history events
_TERMINAL = {
    HistoryEventType.ExecutionSucceeded,
    HistoryEventType.ExecutionFailed,
    HistoryEventType.ExecutionAborted,
    HistoryEventType.ExecutionTimedOut,
}


def bind_clock(clock: VirtualClock | None) -> None:
    """The clock the current thread's waits and retries use (an execution thread, or a test's own thread)."""
    threading.current_thread().emulated_clock = clock  # type: ignore[attr-defined]


def forget_finished_threads() -> None:
    """moto's interpreter keeps every thread it starts in a module-level list (TMP_THREADS) and never empties it. A
    finished thread still holds its clock, and through the clock's timers the whole emulator: every emulator a process
    opened stayed in memory, and each full garbage collection walked them all again."""
    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def _inherit_clock(original: Any) -> Any:
    """moto's interpreter runs the program, each task (for its timeout) and Map/Parallel branches in threads of
    their own: a thread starts with the clock of the thread that created it."""

    def init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        clock = getattr(threading.current_thread(), "emulated_clock", None)
        if clock is not None:
            self.emulated_clock = clock  # type: ignore[attr-defined]

    return init


def _sleep(seconds: float, interrupt: threading.Event | None = None) -> None:
    clock: VirtualClock | None = getattr(threading.current_thread(), "emulated_clock", None)
    if clock is not None:
        clock.sleep(seconds, interrupt)
    elif interrupt is not None:
        interrupt.wait(seconds)
    else:
        time.sleep(seconds)


@contextlib.contextmanager
def woken_by_state_change(env: Any, *others: list[threading.Event]) -> Iterator[threading.Event]:
    """An event set when the program state of `env` or of its whole execution changes (stopped, failed, timed out),
    and by whoever holds one of `others`. moto's own program_state_event is set and cleared at once (a sleeper
    polling it misses it), and a Map iteration's frames do not hear of a StopExecution."""
    wake = threading.Event()
    root = getattr(env.event_manager, "quota_environment", env)
    lists = [*others, *(e.__dict__.setdefault("emulated_wakes", []) for e in {id(env): env, id(root): root}.values())]
    for waiting in lists:
        waiting.append(wake)
    try:
        yield wake
    finally:
        for waiting in lists:
            waiting.remove(wake)


def running(env: Any) -> bool:
    root = getattr(env.event_manager, "quota_environment", env)
    return bool(env.is_running() and root.is_running())


def _wakes_listeners(original: Any) -> Any:
    """Environment.set_stop / set_error / set_timed_out: also wake what waits on this frame (woken_by_state_change)."""

    def change(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        wakes = list(self.__dict__.get("emulated_wakes", []))
        for wake in wakes:
            wake.set()
        clock = _clock()
        if wakes and clock is not None:
            clock.nudge()

    return change


sleep = _sleep  # for emulator/child_executions.py


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    if wait_seconds > 0 and running(env):
        with woken_by_state_change(env) as wake:
            _sleep(wait_seconds, wake)


class _RetrySleep:
    """Stands in for the `time` module inside moto's retrier and botocore's endpoint: back-off on the virtual clock."""

    @staticmethod
    def sleep(seconds: float) -> None:
        _sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _worker_start(original: Any) -> Any:
    def start(self: Any) -> None:
        emulator = binding.bound(self._evaluation_details.aws_execution_details.account)
        clock = emulator.clock if emulator is not None else None
        if clock is not None:
            clock.enter()  # before the thread starts, so time cannot jump past this execution's first state
            logic = self._execution_logic

            def run() -> None:
                bind_clock(clock)
                try:
                    logic()
                finally:
                    clock.leave()

            self._execution_logic = run
        original(self)

    return start


def _clock() -> VirtualClock | None:
    clock: VirtualClock | None = getattr(threading.current_thread(), "emulated_clock", None)
    return clock


def _counted_thread(target: Any, name: str | None = None) -> threading.Thread:
    """A thread that is a participant of the clock while it runs: entered now, before it starts (time cannot skip
    its first step), left when its work ends. The caller starts it."""
    clock = _clock()

    def run() -> None:
        try:
            target()
        finally:
            if clock is not None:
                clock.leave()

    thread = threading.Thread(target=run, name=name, daemon=True)
    TMP_THREADS.append(thread)
    if clock is not None:
        clock.enter()
    return thread


def _launch_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
    """InlineIterationComponent._launch_worker, with the worker's thread counted."""
    worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
    _counted_thread(worker.eval).start()
    return worker


def _branch_start(self: Any) -> None:
    """BranchWorker.start, with the branch's thread counted."""
    if self._worker_thread is not None:
        raise RuntimeError(f"Attempted to rerun BranchWorker for program ${self._program}.")
    self._worker_thread = _counted_thread(self._thread_routine, name=f"BranchWorker_${self._program}")
    self._worker_thread.start()


def _nudging(original: Any) -> Any:
    """JobPool.close_job / BranchWorkerPool.on_terminated: the state waiting for them may go on now."""

    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        clock = _clock()
        if clock is not None:
            clock.nudge()
        return result

    return close


def _asleep_while(waiting_for: Any, done: Any) -> Any:
    """The state waiting for its iterations or branches counts as asleep until they are all done."""

    def wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        clock = _clock()
        if clock is None:
            return waiting_for(self, *args, **kwargs)
        with clock.waiting(lambda: not done(self)):
            return waiting_for(self, *args, **kwargs)

    return wait


def _environment_init(original: Any) -> Any:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not hasattr(self.event_manager, "quota_environment"):  # frames (Map, Parallel) share their parent's
            self.event_manager.quota_environment = self

    return init


def _add_event(original: Any) -> Any:
    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        environment = getattr(self, "quota_environment", None)
        recorded = len(self._history_event_list)
        if environment is not None and event_type not in _TERMINAL and recorded >= HISTORY_QUOTA - 1:
            # This event would be number 25,000: the execution fails instead (even if its last state already ended
            # the program), and ExecutionFailed takes that number.
            if not getattr(self, "quota_reached", False):
                self.quota_reached = True
                environment.set_error(
                    ExecutionFailedEventDetails(
                        error="States.Runtime",
                        cause=f"The execution reached the maximum number of history events ({HISTORY_QUOTA}).",
                    )
                )
            return recorded
        event_id: int = original(self, context, event_type, *args, **kwargs)
        return event_id

    return add_event


def _start_execution(original: Any) -> Any:
    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return start_execution


def _lambda_error(original: Any) -> Any:
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        name = f"Lambda.{ex.response['Error']['Code']}"
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # a TypedDict with every key optional in use
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=name, cause=ex.response["Error"]["Message"])
            ),
        )

    return from_error


YEAR = 365 * 24 * 3600  # an execution's longest life: a token wait without TimeoutSeconds waits that long


def _callback_wait(self: CallbackEndpoint, timeout: float | None = None) -> Any:
    _sleep(timeout if timeout is not None else YEAR, self._notify_event)
    return self._outcome


def _heartbeat_wait(self: HeartbeatEndpoint) -> bool:
    with self._mutex:
        if self._next_heartbeat_event.is_set():
            self._next_heartbeat_event.clear()
            return True
    _sleep(self._heartbeat_seconds, self._next_heartbeat_event)
    return self._next_heartbeat_event.is_set()


def _heartbeat_error(original: Any) -> Any:
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, HeartbeatTimeoutError):
            return original(self, env, ex)
        name = StatesErrorName(typ=StatesErrorNameType.StatesHeartbeatTimeout)
        return FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskTimedOut,
            event_details=EventDetails(taskTimedOutEventDetails=TaskTimedOutEventDetails(error=name.error_name)),  # type: ignore[typeddict-item]
        )

    return from_error


def _send_task_failure(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _stop_wins(original: Any) -> Any:
    """A stopped execution is ABORTED, whatever its interrupted task raises afterwards; an execution that failed (the
    history quota) keeps that error, whatever the task interrupted by it raises afterwards."""

    def set_error(self: Any, error: Any) -> None:
        if isinstance(self.program_state(), ProgramStopped | ProgramError):
            return
        original(self, error)

    return set_error


def _stop_interrupts_callbacks(original: Any) -> Any:
    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original(self, stop_date, error, cause)
        for endpoint in list(self.env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    return stop


def _cached_parse(original: Any) -> Any:
    cache: dict[str, Any] = {}

    def parse(definition: str) -> Any:
        if definition not in cache:
            program, tree = original(definition)
            cache[definition] = pickle.dumps(program), tree
        frozen, tree = cache[definition]
        # A fresh copy of the program each time (it keeps state while it runs; the parse tree is only read): unpickling
        # copies it as deepcopy did, 17 times faster for this definition (0.8 ms instead of 14 ms per execution).
        return pickle.loads(frozen), tree  # noqa: S301 - our own bytes, made from the definition just above

    return parse


def _copy_json(value: Any) -> Any:
    """copy.deepcopy for the JSON a state's input, result and context hold, a few times faster (the interpreter copies
    them on every path it reads: a fifth of a restore's CPU went to deepcopy); anything else is deep-copied as before."""
    kind = type(value)
    if kind is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if kind is list:
        return [_copy_json(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def install() -> None:
    states_data.copy = SimpleNamespace(deepcopy=_copy_json)  # type: ignore[attr-defined,assignment]  # its only use of copy
    string_expression.copy = SimpleNamespace(deepcopy=_copy_json)  # type: ignore[attr-defined,assignment]
    # The interpreter logs every caught error at ERROR with its parse tree; the execution history says it better.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    state_task_lambda.StateTaskLambda._from_error = _lambda_error(state_task_lambda.StateTaskLambda._from_error)  # type: ignore[method-assign]
    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[attr-defined]
    AmazonStateLanguageParser.parse = staticmethod(_cached_parse(AmazonStateLanguageParser.parse))  # type: ignore[method-assign]
    Environment.__init__ = _environment_init(Environment.__init__)  # type: ignore[method-assign]
    Environment.set_error = _stop_wins(Environment.set_error)  # type: ignore[method-assign]
    for method in ("set_stop", "set_error", "set_timed_out"):
        setattr(Environment, method, _wakes_listeners(getattr(Environment, method)))
    EventManager.add_event = _add_event(EventManager.add_event)  # type: ignore[method-assign]
    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    retrier_decl.time = _RetrySleep()  # type: ignore[attr-defined,assignment]
    botocore_endpoint.time = _RetrySleep()  # type: ignore[attr-defined]  # the handlers' SDK retries
    threading.Thread.__init__ = _inherit_clock(threading.Thread.__init__)  # type: ignore[method-assign]
    ExecutionWorker.start = _worker_start(ExecutionWorker.start)  # type: ignore[method-assign]
    ExecutionWorker.stop = _stop_interrupts_callbacks(ExecutionWorker.stop)  # type: ignore[method-assign]
    CallbackEndpoint.wait = _callback_wait  # type: ignore[method-assign]
    HeartbeatEndpoint.clear_and_wait = _heartbeat_wait  # type: ignore[method-assign]
    callback_task = state_task_service_callback.StateTaskServiceCallback
    callback_task._from_error = _heartbeat_error(callback_task._from_error)  # type: ignore[method-assign]
    StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
    for backend in (StepFunctionBackend, StepFunctionsParserBackend):
        backend.start_execution = _start_execution(backend.start_execution)  # type: ignore[method-assign]
    inline_iteration_component.InlineIterationComponent._launch_worker = _launch_worker  # type: ignore[method-assign]
    job.JobPool.await_jobs = _asleep_while(job.JobPool.await_jobs, lambda pool: pool._termination_event.is_set())  # type: ignore[method-assign]
    job.JobPool.close_job = _nudging(job.JobPool.close_job)  # type: ignore[method-assign]
    branch_worker.BranchWorker.start = _branch_start  # type: ignore[method-assign]
    pool = branches_decl.BranchWorkerPool
    pool.wait = _asleep_while(pool.wait, lambda p: p._termination_event.is_set())  # type: ignore[method-assign]
    pool.on_terminated = _nudging(pool.on_terminated)  # type: ignore[method-assign]
    child_executions.install()
