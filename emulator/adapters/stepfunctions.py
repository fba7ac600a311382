"""Step Functions as AWS runs it, fixed where moto 5.2.5's interpreter differs (one patch per difference, each below):

- Wait states and retry back-off sleep on the emulator's virtual clock instead of for real (emulator/adapters/waits.py).
- The history quota: Step Functions Standard fails an execution at 25,000 events, and event 25,000 is the
  `ExecutionFailed` itself (States.Runtime); an `ExecutionSucceeded` that is event 25,000 succeeds (facts.py
  [SFN-Q]; the quota is the world's `history_quota`). moto lets the history grow without end.
- StartExecution without a name gets a UUID, as on AWS; moto names such an execution `None`.
- A Lambda API error reaches the state machine as `Lambda.<Code>` (e.g. Lambda.ServiceException); moto says
  `Exception`.
- Callback tasks (`.waitForTaskToken`) wait for their token, their `TimeoutSeconds` and their `HeartbeatSeconds` on
  the virtual clock (moto waits in real time); a missed heartbeat fails `States.HeartbeatTimeout` (moto says
  States.Timeout); SendTaskFailure keeps its `cause` (moto drops it); StopExecution ends a task waiting for a token
  (moto leaves it waiting), and stops the child executions its `.sync` tasks wait for (adapters/sfn_children.py).
- Map iterations (and Parallel branches) run side by side in threads of their own; each counts as a participant of the
  virtual clock while it runs, and the state that waits for them counts as asleep, so time moves only when every
  iteration waits (moto's threads are invisible to the clock: one sleeping iteration let time jump under another).
- A StopExecution (or a failure, or the execution's timeout) ends a Wait state at once; moto's Wait sleeps on.
- A stopped execution is ABORTED whatever its interrupted task raises afterwards; one that failed keeps its error.
- Data limits ([SFN-LIM]): StartExecution refuses an input over 256 KiB, and a state whose input or task parameters
  are larger fails the execution States.DataLimitExceeded. moto checks only state outputs and task results.
- TimeoutSeconds ([SFN-TO]): an execution that runs longer ends TIMED_OUT on the virtual clock, its token waits end
  and its `.sync` children are stopped. moto joins its program thread in real time, so a 10-day timeout never came.
- A Catch whose `Next` is the state itself enters that state again (Amazon States Language, "Fallback states": `Next`
  names any state of the machine); moto took its own name as "Next not overridden" and went on to the state's `Next`,
  so a callback wait that timed out into itself went ahead as if its token had come.
- GetExecutionHistory with `reverseOrder` lists the events newest first (Step Functions API Reference,
  GetExecutionHistory: "Lists events in descending order of their timeStamp"); moto answers oldest first whatever asked.
- Status changes ([SFN-EB]): each execution's start and end is a "Step Functions Execution Status Change" event on the
  world's bus (matched against the account's rules, delivered after a delay). moto sends none.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from moto.core.responses import EmptyResult
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    ExecutionStatus,
    HistoryEventType,
    InvalidToken,
    LambdaFunctionFailedEventDetails,
    TaskDoesNotExist,
    TaskTimedOut,
    TaskTimedOutEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.catch.catcher_decl import CatcherDecl
from moto.stepfunctions.parser.asl.component.common.catch.catcher_outcome import CatcherOutcomeCaught
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import inline_iteration_component, iteration_worker, job
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branch_worker, branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackConsumerTimeout,
    CallbackEndpoint,
    CallbackNotifyConsumerError,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
    HeartbeatEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped, ProgramTimedOut
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from emulator.adapters import sfn_children
from emulator.adapters.errors import EmulatedError
from emulator.adapters.registry import bound
from emulator.adapters.waits import RetrySleep, bind_clock, counted_thread, current_clock, root_of, running, sleep, woken_by_state_change
from emulator.world.facts import (
    DATA_LIMIT_CAUSE,
    EXECUTION_MAX_SECONDS,
    HISTORY_QUOTA_CAUSE,
    STATE_DATA_LIMIT_BYTES,
    STATUS_CHANGE_DETAIL_TYPE,
)

_TERMINAL = {
    HistoryEventType.ExecutionSucceeded,
    HistoryEventType.ExecutionFailed,
    HistoryEventType.ExecutionAborted,
    HistoryEventType.ExecutionTimedOut,
}


def _wakes_listeners(original: Any) -> Any:
    """Environment.set_stop / set_error / set_timed_out: also wake what waits on this frame (woken_by_state_change)."""

    def change(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        wakes = list(self.__dict__.get("emulated_wakes", []))
        for wake in wakes:
            wake.set()
        clock = current_clock()
        if wakes and clock is not None:
            clock.nudge()

    return change


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    if wait_seconds > 0 and running(env):
        with woken_by_state_change(env) as wake:
            sleep(wait_seconds, wake)


def _worker_start(original: Any) -> Any:
    def start(self: Any) -> None:
        account = bound(self._evaluation_details.aws_execution_details.account)
        clock = account.clock if account is not None else None
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


def _launch_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
    """InlineIterationComponent._launch_worker, with the worker's thread counted."""
    worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
    counted_thread(worker.eval).start()
    return worker


def _branch_start(self: Any) -> None:
    """BranchWorker.start, with the branch's thread counted."""
    if self._worker_thread is not None:
        raise RuntimeError(f"Attempted to rerun BranchWorker for program ${self._program}.")
    self._worker_thread = counted_thread(self._thread_routine, name=f"BranchWorker_${self._program}")
    self._worker_thread.start()


def _nudging(original: Any) -> Any:
    """JobPool.close_job / BranchWorkerPool.on_terminated: the state waiting for them may go on now."""

    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        clock = current_clock()
        if clock is not None:
            clock.nudge()
        return result

    return close


def _asleep_while(waiting_for: Any, done: Any) -> Any:
    """The state waiting for its iterations or branches counts as asleep until they are all done."""

    def wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        clock = current_clock()
        if clock is None:
            return waiting_for(self, *args, **kwargs)
        with clock.waiting(lambda: not done(self)):
            return waiting_for(self, *args, **kwargs)

    return wait


def _environment_init(original: Any) -> Any:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not hasattr(self.event_manager, "emulated_root"):  # frames (Map, Parallel) share their parent's
            self.event_manager.emulated_root = self

    return init


def _history_quota(environment: Any) -> int:
    account = bound(environment.aws_execution_details.account)
    return account.world.history_quota if account is not None else 2**62


def _oversized(details: Any) -> str | None:
    """The name of the state or task whose input, output or parameters an event carries over the data limit."""
    for key, value in (details or {}).items():
        if not isinstance(value, dict):
            continue
        for field in ("input", "output", "parameters"):
            data = value.get(field)
            if isinstance(data, str) and len(data.encode()) > STATE_DATA_LIMIT_BYTES:
                return str(value.get("name") or value.get("resource") or key.removesuffix("EventDetails"))
    return None


def _add_event(original: Any) -> Any:
    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        environment = getattr(self, "emulated_root", None)
        recorded = len(self._history_event_list)
        if environment is not None and event_type not in _TERMINAL and recorded >= (quota := _history_quota(environment)) - 1:
            # This event would be the quota's last: the execution fails instead (even if its last state already ended
            # the program), and ExecutionFailed takes that number.
            if not getattr(self, "emulated_quota_reached", False):
                self.emulated_quota_reached = True
                environment.set_error(ExecutionFailedEventDetails(error="States.Runtime", cause=HISTORY_QUOTA_CAUSE.format(quota=quota)))
            return recorded
        details = kwargs.get("event_details", args[0] if args else None)
        if environment is not None and event_type not in _TERMINAL and (name := _oversized(details)) is not None:
            # The state or task carries more than 256 KiB: it fails States.DataLimitExceeded, which no Catch takes.
            environment.set_error(ExecutionFailedEventDetails(error="States.DataLimitExceeded", cause=DATA_LIMIT_CAUSE.format(name=name)))
            return recorded
        event_id: int = original(self, context, event_type, *args, **kwargs)
        return event_id

    return add_event


def _start_execution(original: Any) -> Any:
    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        given = kwargs.get("execution_input", args[0] if args else None)
        if isinstance(given, str) and len(given.encode()) > STATE_DATA_LIMIT_BYTES:
            raise EmulatedError(
                "ValidationException",
                f"1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or "
                f"equal to {STATE_DATA_LIMIT_BYTES}",
                400,
            )
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


CAUGHT_TO = "emulator_caught_to"  # the Catch's Next, on the environment of the state that caught the error


def _catcher_eval_body(original: Any) -> Any:
    """Remember that a Catch chose the next state, even when it names the state that caught."""

    @functools.wraps(original)
    def eval_body(self: CatcherDecl, env: Environment) -> None:
        original(self, env)
        if isinstance(env.stack[-1], CatcherOutcomeCaught):
            setattr(env, CAUGHT_TO, self.next_decl.name)

    return eval_body


def _set_next(original: Any) -> Any:
    """A Catch's Next wins over the state's own Next, also when it is the state's own name."""

    @functools.wraps(original)
    def set_next(self: CommonStateField, env: Environment) -> None:
        caught_to = getattr(env, CAUGHT_TO, None)
        if caught_to is not None:
            setattr(env, CAUGHT_TO, None)
            env.next_state_name = caught_to
            return
        original(self, env)

    return set_next


def _iteration_error_name(error_name: Any = None, **kwargs: Any) -> Any:
    """A Map iteration's error as its parent's: a States.* name is one of the language's (moto made every one a custom
    name, which refuses the States. prefix: an execution that timed out in a Map failed States.Runtime instead)."""
    name = error_name if error_name is not None else kwargs.get("error_name")
    if isinstance(name, str) and name.startswith("States."):
        try:
            return StatesErrorName(typ=StatesErrorNameType.from_name(name))
        except ValueError:
            pass
    return CustomErrorName(error_name=name)


def _callback_wait(self: CallbackEndpoint, timeout: float | None = None) -> Any:
    sleep(timeout if timeout is not None else EXECUTION_MAX_SECONDS, self._notify_event)  # no TimeoutSeconds: up to a year
    return self._outcome


def _heartbeat_wait(self: HeartbeatEndpoint) -> bool:
    with self._mutex:
        if self._next_heartbeat_event.is_set():
            self._next_heartbeat_event.clear()
            return True
    sleep(self._heartbeat_seconds, self._next_heartbeat_event)
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
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _notify_callback(self: Any, token: str, notify: Any) -> None:
    """Deliver a callback (`notify(callback_pool_manager)` is True when it held the token) as moto does, skipping the
    executions whose thread has not set up its environment yet (moto fails the whole call on them: a token sent while
    another execution starts raised AttributeError)."""
    for execution in self._get_executions():
        env = getattr(execution.exec_worker, "env", None)
        if env is None:
            continue
        try:
            if notify(env.callback_pool_manager):
                return
        except CallbackNotifyConsumerError as consumer_error:
            # (moto's exceptions, as its own SendTaskSuccess raises them)
            closed = TaskTimedOut() if isinstance(consumer_error, CallbackConsumerTimeout) else TaskDoesNotExist()  # type: ignore[call-arg]
            raise closed from consumer_error
    raise InvalidToken()  # type: ignore[no-untyped-call]


def _backend_send_task_success(self: Any, task_token: str, outcome: str) -> None:
    result = CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
    _notify_callback(self, task_token, lambda pool: pool.notify(callback_id=task_token, outcome=result))


def _backend_send_task_failure(self: Any, task_token: str, error: Any = None, cause: Any = None) -> Any:
    result = CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
    _notify_callback(self, task_token, lambda pool: pool.notify(callback_id=task_token, outcome=result))
    return EmptyResult()


def _backend_send_task_heartbeat(self: Any, task_token: str) -> None:
    _notify_callback(self, task_token, lambda pool: pool.heartbeat(callback_id=task_token))


def _describe_execution(original: Any) -> Any:
    """DescribeExecution of a TIMED_OUT execution has its stopDate, as every closed execution's (moto leaves it out)."""

    def describe_execution(self: Any) -> Any:
        result = original(self)
        if result.result.get("status") in ("TIMED_OUT", ExecutionStatus.TIMED_OUT) and "stopDate" not in result.result:
            result.result["stopDate"] = self.stepfunction_backend.describe_execution(self._get_param("executionArn")).stop_date
        return result

    return describe_execution


def _execution_history(original: Any) -> Any:
    """GetExecutionHistory honours reverseOrder (moto ignores it)."""

    def get_execution_history(self: Any) -> Any:
        result = original(self)
        if self._get_param("reverseOrder"):
            result.result["events"] = list(reversed(result.result["events"]))
        return result

    return get_execution_history


def _stop_wins(original: Any) -> Any:
    def set_error(self: Any, error: Any) -> None:
        if isinstance(self.program_state(), ProgramStopped | ProgramError | ProgramTimedOut):
            return
        original(self, error)

    return set_error


def _program_eval(self: Any, env: Any) -> None:
    """Program.eval: the program runs in the execution's own thread (a participant of the clock), and its TimeoutSeconds
    is a timer on the virtual clock. moto ran it in a thread of its own, joined for TimeoutSeconds of real time."""
    timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
    env.next_state_name = self.start_at.start_at_name
    clock = current_clock()
    if timeout is not None and clock is not None:
        clock.call_at(clock.now() + timedelta(seconds=timeout), lambda: _time_out(env))
    EvalComponent.eval(self, env)


def _time_out(env: Any) -> None:
    if not env.is_running():
        return
    env.set_timed_out()
    for endpoint in list(env.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()
    sfn_children.stop_children(root_of(env))


def _execution_init(original: Any) -> Any:
    def init(self: Execution, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.emulated_waiters = []  # type: ignore[attr-defined]  # events to set when it ends
        self.emulated_announced = threading.Event()  # type: ignore[attr-defined]  # its end is on the bus

    return init


def _epoch_ms(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _emit_status(execution: Execution, status: str) -> None:
    """A "Step Functions Execution Status Change" event of the execution ([SFN-EB])."""
    account = bound(execution.account_id)
    if account is None:
        return
    output = json.dumps(execution.output, separators=(",", ":")) if status == "SUCCEEDED" else None
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_ms(execution.start_date),
        "stopDate": _epoch_ms(execution.stop_date),
        "input": json.dumps(execution.input_data, separators=(",", ":")),
        "output": output,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error,
        "cause": execution.cause,
    }
    account.eventbridge.emit(execution.region_name, "aws.states", STATUS_CHANGE_DETAIL_TYPE, detail, [execution.exec_arn])


def _execution_start(original: Any) -> Any:
    def start(self: Execution) -> None:
        _emit_status(self, "RUNNING")  # before its thread runs: a short execution may end before start() returns
        original(self)

    return start


def _terminated(original: Any) -> Any:
    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original(self)
        # The status change goes on the bus before anyone waiting for the end is woken: a waiter that then moves the
        # clock must find its delivery scheduled (else, under load, the event came after the time it was waited for).
        status = self.execution.exec_status
        _emit_status(self.execution, status.value if status is not None else "RUNNING")
        announced = getattr(self.execution, "emulated_announced", None)
        if announced is not None:
            announced.set()
        waiters = list(getattr(self.execution, "emulated_waiters", []))
        for waiter in waiters:
            waiter.set()
        account = bound(self.execution.account_id)
        if waiters and account is not None:
            account.clock.nudge()

    return terminated


def _stop(original: Any) -> Any:
    """ExecutionWorker.stop: also interrupt the tasks waiting for a token, and stop the `.sync` children."""

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original(self, stop_date, error, cause)
        for endpoint in list(self.env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()
        sfn_children.stop_children(root_of(self.env))

    return stop


def install() -> None:
    # The interpreter logs every caught error at ERROR with its parse tree; the execution history says it better.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    # moto names a Lambda API error "Exception": Lambda.<Code>, as Step Functions reports it.
    state_task_lambda.StateTaskLambda._from_error = _lambda_error(state_task_lambda.StateTaskLambda._from_error)  # type: ignore[method-assign]
    # moto's history has no quota: each execution's history knows its execution, to fail it at the world's quota.
    Environment.__init__ = _environment_init(Environment.__init__)  # type: ignore[method-assign]
    EventManager.add_event = _add_event(EventManager.add_event)  # type: ignore[method-assign]
    # moto lets an interrupted task's error overwrite a stop (or the quota's failure): the first end wins.
    Environment.set_error = _stop_wins(Environment.set_error)  # type: ignore[method-assign]
    # moto sets and clears its program-state event at once: sleepers of this frame are woken for good.
    for method in ("set_stop", "set_error", "set_timed_out"):
        setattr(Environment, method, _wakes_listeners(getattr(Environment, method)))
    # moto's Wait state and retrier sleep in real time: on the virtual clock, and a stop ends a Wait at once.
    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    retrier_decl.time = RetrySleep()  # type: ignore[attr-defined,assignment]
    # moto's execution thread is invisible to the clock: it is a participant from its start to its end.
    ExecutionWorker.start = _worker_start(ExecutionWorker.start)  # type: ignore[method-assign]
    # moto joins the program's thread for TimeoutSeconds of real time: a timer on the virtual clock instead.
    Program.eval = _program_eval  # type: ignore[method-assign]
    # moto tells nobody when an execution starts or ends: waiters are woken, and the status change is an event.
    Execution.__init__ = _execution_init(Execution.__init__)  # type: ignore[method-assign]
    Execution.start = _execution_start(Execution.start)  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = _terminated(BaseExecutionWorkerCommunication.terminated)  # type: ignore[method-assign]
    # moto's StopExecution leaves token waits and `.sync` children running: both end with it.
    ExecutionWorker.stop = _stop(ExecutionWorker.stop)  # type: ignore[method-assign]
    # moto waits for a token and its heartbeat in real time, and names a missed heartbeat States.Timeout.
    CallbackEndpoint.wait = _callback_wait  # type: ignore[method-assign]
    HeartbeatEndpoint.clear_and_wait = _heartbeat_wait  # type: ignore[method-assign]
    callback_task = state_task_service_callback.StateTaskServiceCallback
    callback_task._from_error = _heartbeat_error(callback_task._from_error)  # type: ignore[method-assign]
    # moto's callbacks fail on an execution that has just started (its environment not set up yet): skipped.
    StepFunctionsParserBackend.send_task_success = _backend_send_task_success  # type: ignore[method-assign,assignment]
    StepFunctionsParserBackend.send_task_failure = _backend_send_task_failure  # type: ignore[method-assign]
    StepFunctionsParserBackend.send_task_heartbeat = _backend_send_task_heartbeat  # type: ignore[method-assign,assignment]
    # moto reads a Catch whose Next is the catching state itself as no Catch at all, and goes on to the state's Next.
    CatcherDecl._eval_body = _catcher_eval_body(CatcherDecl._eval_body)  # type: ignore[method-assign]
    CommonStateField._set_next = _set_next(CommonStateField._set_next)  # type: ignore[method-assign]
    # moto names a Map iteration's States.* error as a custom one, which the language refuses.
    iteration_worker.CustomErrorName = _iteration_error_name  # type: ignore[assignment,attr-defined]
    # moto's SendTaskFailure drops the cause.
    StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
    # moto's DescribeExecution leaves out a TIMED_OUT execution's stopDate.
    StepFunctionResponse.describe_execution = _describe_execution(StepFunctionResponse.describe_execution)  # type: ignore[method-assign]
    # moto's GetExecutionHistory answers oldest first even when asked for newest first.
    StepFunctionResponse.get_execution_history = _execution_history(StepFunctionResponse.get_execution_history)  # type: ignore[method-assign]
    # moto names an execution started without a name `None`: a UUID, as AWS does.
    for backend in (StepFunctionBackend, StepFunctionsParserBackend):
        backend.start_execution = _start_execution(backend.start_execution)  # type: ignore[method-assign]
    # moto's Map iterations and Parallel branches run in threads the clock does not see: counted, and the state that
    # waits for them counts as asleep until they are done.
    inline_iteration_component.InlineIterationComponent._launch_worker = _launch_worker  # type: ignore[method-assign]
    job.JobPool.await_jobs = _asleep_while(job.JobPool.await_jobs, lambda pool: pool._termination_event.is_set())  # type: ignore[method-assign]
    job.JobPool.close_job = _nudging(job.JobPool.close_job)  # type: ignore[method-assign]
    branch_worker.BranchWorker.start = _branch_start  # type: ignore[method-assign]
    pool = branches_decl.BranchWorkerPool
    pool.wait = _asleep_while(pool.wait, lambda p: p._termination_event.is_set())  # type: ignore[method-assign]
    pool.on_terminated = _nudging(pool.on_terminated)  # type: ignore[method-assign]
    sfn_children.install()
