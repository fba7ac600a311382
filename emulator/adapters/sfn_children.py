"""Step Functions starting Step Functions (`arn:aws:states:::states:startExecution[.sync|.sync:2]`), which moto 5.2.5
cannot run: it passes the task's parameters to boto3 un-normalised (`KeyError: 'StateMachineArn'`), and its `.sync`
wait polls DescribeExecution in real time (0.5 s sleeps the virtual clock cannot see).

As AWS runs it (Step Functions Developer Guide, "Start workflow executions from a task state" and "Start a new AWS
Step Functions state machine from a running execution" / connect-stepfunctions):
- The task starts a real execution of the named state machine, with `Input` (JSON, or a string) and `Name`; without a
  name it gets a UUID. The same name and input as a running execution starts nothing new (StartExecution's
  idempotency); another input fails `StepFunctions.ExecutionAlreadyExistsException`.
- Request-response: the task's result is StartExecution's answer, `{"ExecutionArn", "StartDate"}`.
- `.sync` waits for the child to end; `.sync:2` the same, with the child's `Input` and `Output` as JSON instead of
  strings. The result is the child's DescribeExecution in the integration's PascalCase (`ExecutionArn`, `Input`,
  `InputDetails`, `Name`, `Output`, `OutputDetails`, `RedriveCount`, `RedriveStatus`, `StartDate`, `StateMachineArn`,
  `Status`, `StopDate`), dates as epoch milliseconds. A child that ends FAILED, TIMED_OUT or ABORTED fails the task
  `States.TaskFailed`, whose cause is that same description (with the child's `Error` and `Cause`) as JSON.
- The wait is on the virtual clock: the parent sleeps until the child ends (it counts as asleep, the child runs), or
  until the task's `TimeoutSeconds` (`States.Timeout`, and the child is stopped), or until the parent itself is
  stopped, fails or times out: a `.sync` task's job is then stopped too, as AWS stops the jobs of `.sync` tasks when
  their execution ends.
- IAM, with enforcement on (Step Functions Developer Guide, "IAM policies for ... Step Functions" / nested
  executions): the parent's role needs `states:StartExecution` on the state machine; for `.sync`, also
  `events:PutTargets`, `events:PutRule`, `events:DescribeRule` on the managed rule
  `StepFunctionsGetEventsForStepFunctionsExecutionRule` (which Step Functions creates to learn of the child's end),
  `states:DescribeExecution` to read the child's outcome, and `states:StopExecution` to stop it. A denied call fails
  the task `StepFunctions.AccessDeniedException`; a denied StopExecution leaves the child running.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sfn
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from emulator.adapters import iam
from emulator.adapters.process import enforcing
from emulator.adapters.registry import bound
from emulator.adapters.waits import root_of, running, sleep, woken_by_state_change
from emulator.world.facts import EXECUTION_MAX_SECONDS

MANAGED_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
STOP_SECONDS = 5.0  # real seconds a stopped child may take to end (its thread only has to notice)
_CLOSED = {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT}


# --- the task ----------------------------------------------------------------------------------------------------


def _epoch_ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _region_account(state_machine_arn: str) -> tuple[str, str]:
    parts = state_machine_arn.split(":")
    return parts[3], parts[4]


def _client_error(code: str, message: str, operation: str) -> ClientError:
    # moto's sfn error mapping names it StepFunctions.<Code>Exception, as AWS does.
    metadata: Any = {"HTTPStatusCode": 400, "RequestId": "emulated"}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)


def _denied(action: str, resource: str) -> ClientError:
    return _client_error("AccessDenied", f"User is not authorized to perform: {action} on resource: {resource}", action)


def _authorize(role: str, account: str, region: str, action: str, resource: str) -> bool:
    """May an execution of the state machine whose role is `role` do this (IAM enforced)?"""
    emulated = bound(account)
    if emulated is None or not emulated.invokers or not enforcing():
        return True
    invoker = emulated.invokers.get(role)
    return invoker is not None and iam.authorize(invoker, action, resource, region, account)


def _require(role: str, account: str, region: str, action: str, resource: str) -> None:
    if not _authorize(role, account, region, action, resource):
        raise _denied(action, resource)


def _execution(arn: str) -> Execution:
    region, account = _region_account(arn)
    backend = stepfunctions_parser_backends[account][region]
    found: Execution = next(e for e in backend._get_executions() if e.exec_arn == arn)
    return found


def _eval_service_task(original: Any) -> Any:
    def eval_service_task(self: Any, env: Environment, **kwargs: Any) -> None:  # moto passes its arguments by name
        normalised_parameters: dict[str, Any] = kwargs["normalised_parameters"]
        if self._get_boto_service_action() != "start_execution":
            original(self, env=env, **kwargs)
            return
        state_machine_arn = str(normalised_parameters["StateMachineArn"])
        region, account = _region_account(state_machine_arn)
        role = env.aws_execution_details.role_arn
        _require(role, account, region, "states:StartExecution", state_machine_arn)
        if self.resource.condition in (ResourceCondition.Sync, ResourceCondition.Sync2):
            rule = f"arn:aws:events:{region}:{account}:rule/{MANAGED_RULE}"
            for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
                _require(role, account, region, action, rule)
        raw_input = normalised_parameters.get("Input", "{}")
        child_input = raw_input if isinstance(raw_input, str) else json.dumps(raw_input, separators=(",", ":"))
        backend = stepfunctions_parser_backends[account][region]
        try:
            execution = backend.start_execution(state_machine_arn, normalised_parameters.get("Name"), child_input)  # type: ignore[arg-type]
        except Exception as error:  # moto's service errors (ExecutionAlreadyExists, ...), as AWS names them
            code = str(
                getattr(error, "TYPE", None) or getattr(error, "code", None) or type(error).__name__
            )  # moto's AWSError: TYPE (its code is the status)
            raise _client_error(code.removesuffix("Exception"), str(error), "StartExecution") from error
        if self.resource.condition in (ResourceCondition.Sync, ResourceCondition.Sync2):
            root_of(env).__dict__.setdefault("emulated_children", []).append(execution)  # stopped with their parent
        env.stack.append({"ExecutionArn": execution.exec_arn, "StartDate": _epoch_ms(execution.start_date)})

    return eval_service_task


def stop_children(root: Environment) -> None:
    """StopExecution of a parent also stops the children its `.sync` tasks wait for, whatever its tasks are doing."""
    for child in list(getattr(root, "emulated_children", [])):
        _stop_child(root.aws_execution_details.role_arn, child)


def describe(execution: Execution, as_json: bool) -> dict[str, Any]:
    """DescribeExecution as the optimized integration returns it (PascalCase; `.sync:2`: Input and Output as JSON)."""
    status = execution.exec_status
    text_input = json.dumps(execution.input_data, separators=(",", ":"))
    found: dict[str, Any] = {
        "ExecutionArn": execution.exec_arn,
        "Input": execution.input_data if as_json else text_input,
        "InputDetails": {"Included": True},
        "Name": execution.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE" if status == ExecutionStatus.SUCCEEDED else "REDRIVABLE",
        "StartDate": _epoch_ms(execution.start_date),
        "StateMachineArn": execution.state_machine.arn,
        "Status": str(status.value if status is not None else "RUNNING"),
        "StopDate": _epoch_ms(execution.stop_date),
    }
    if status == ExecutionStatus.SUCCEEDED:
        found["Output"] = execution.output if as_json else json.dumps(execution.output, separators=(",", ":"))
        found["OutputDetails"] = {"Included": True}
    if execution.error is not None:
        found["Error"] = execution.error
    if execution.cause is not None:
        found["Cause"] = execution.cause
    return found


def _stop_child(role: str, execution: Execution) -> None:
    region, account = _region_account(execution.exec_arn)
    if execution.exec_status == ExecutionStatus.RUNNING and _authorize(role, account, region, "states:StopExecution", execution.exec_arn):
        ended = threading.Event()  # StopExecution answers once the execution is ABORTED
        execution.emulated_waiters.append(ended)  # type: ignore[attr-defined]
        deadline = time.monotonic() + STOP_SECONDS
        while getattr(execution.exec_worker, "env", None) is None and time.monotonic() < deadline:
            time.sleep(0.001)  # just started: moto cannot stop it before its program exists
        stepfunctions_parser_backends[account][region].stop_execution(execution.exec_arn)
        ended.wait(max(0.0, deadline - time.monotonic()))


def _eval_sync(original: Any) -> Any:
    def eval_sync(self: Any, env: Environment, timeout_seconds: int | None, **kwargs: Any) -> Any:  # moto passes them by name
        submission = getattr(self, "emulated_submission", None)
        if submission is None:
            return original(self, env=env, timeout_seconds=timeout_seconds, **kwargs)
        self.emulated_submission = None
        execution = _execution(submission["ExecutionArn"])
        # Woken by the child's end, or when this execution is stopped, fails or times out.
        with woken_by_state_change(env, execution.emulated_waiters) as wake:  # type: ignore[attr-defined]
            if execution.exec_status not in _CLOSED and running(env):
                sleep(timeout_seconds if timeout_seconds is not None else EXECUTION_MAX_SECONDS, wake)
        if execution.exec_status not in _CLOSED:
            if not running(env):
                _stop_child(env.aws_execution_details.role_arn, execution)
                return None
            _stop_child(env.aws_execution_details.role_arn, execution)
            raise EvalTimeoutError()
        region, account = _region_account(execution.exec_arn)
        _require(env.aws_execution_details.role_arn, account, region, "states:DescribeExecution", execution.exec_arn)
        result = describe(execution, as_json=self.resource.condition == ResourceCondition.Sync2)
        if execution.exec_status == ExecutionStatus.SUCCEEDED:
            return result
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # a TypedDict with every key optional in use
                    taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=StatesErrorNameType.StatesTaskFailed.to_name(),
                        cause=json.dumps(result, separators=(",", ":")),
                    )
                ),
            )
        )

    return eval_sync


def _keep_submission(name: str) -> Any:
    """The sync resolvers pop the StartExecution answer off the stack: keep it for eval_sync instead of a boto3 poller."""

    def build(self: Any, env: Environment, **kwargs: Any) -> Any:
        self.emulated_submission = env.stack.pop()
        return lambda: None

    build.__name__ = name
    return build


def install() -> None:
    sfn = state_task_service_sfn.StateTaskServiceSfn
    # moto passes the task's parameters to boto3 un-normalised (KeyError: 'StateMachineArn'): a real child execution.
    sfn._eval_service_task = _eval_service_task(sfn._eval_service_task)  # type: ignore[method-assign]
    # moto's `.sync` waits poll DescribeExecution with real 0.5 s sleeps: the child's end is awaited on the clock.
    sfn._build_sync_resolver = _keep_submission("_build_sync_resolver")  # type: ignore[method-assign]
    sfn._build_sync2_resolver = _keep_submission("_build_sync2_resolver")  # type: ignore[method-assign]
    sfn._eval_sync = _eval_sync(sfn._eval_sync)  # type: ignore[method-assign]
