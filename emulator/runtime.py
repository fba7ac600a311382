"""How the emulator runs things: Lambda invocations go to the project's real handlers in process, Step Functions
waits and retry back-off go through the virtual clock, and the 25,000-event history quota is enforced.

moto's Lambda would run code in Docker (absent here) or echo canned payloads; moto's Step Functions interpreter
sleeps for real. `install()` patches both once per process; `use_clock()` selects the clock of the running session.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
from botocore import endpoint as botocore_endpoint
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils, state_task_lambda
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from emulator import aws as emulated_aws
from emulator.clock import VirtualClock

_clock: VirtualClock | None = None
_installed = False
_lock = threading.Lock()
# Handlers share os.environ (each function has its own variables), so invocations run one at a time.
_invoke_lock = threading.RLock()


@dataclass
class LambdaFault:
    """The next `times` invocations of the function fail as the Lambda service does: "ServiceException" (and
    other API errors) before the handler runs, or "Sandbox.Timedout" after it ran (its side effects happened)."""

    function: str  # logical id, e.g. "RestoreImageFunction"
    error: str
    times: int = 1


lambda_faults: list[LambdaFault] = []


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    module: ModuleType
    environment: dict[str, str]
    timeout: int
    source: Path
    log_group_arn: str
    invocations: list[dict[str, Any]] = field(default_factory=list)


# With IAM enforced (emulator.aws.enforcing): the identity Step Functions invokes functions as, and what the Lambda
# runtime tried to write with each function's role (AWS drops the logs and traces it may not write; the function runs).
invoker_credentials: tuple[str, str | None] | None = None
runtime_writes: list[tuple[str, str, bool]] = []


def _runtime_writes(function: DeployedFunction) -> None:
    if not emulated_aws.enforcing() or "AWS_ACCESS_KEY_ID" not in function.environment:
        return
    role = (function.environment["AWS_ACCESS_KEY_ID"], function.environment.get("AWS_SESSION_TOKEN"))
    region = function.environment["AWS_REGION"]
    for action, resource in (
        ("logs:CreateLogStream", f"{function.log_group_arn.removesuffix(':*')}:log-stream:*"),
        ("logs:PutLogEvents", f"{function.log_group_arn.removesuffix(':*')}:log-stream:*"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    ):
        runtime_writes.append((function.logical_id, action, emulated_aws.authorize(role, action, resource, region)))


_functions: dict[str, DeployedFunction] = {}


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
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


def load_handler(source: Path, module_name: str, variables: dict[str, str]) -> ModuleType:
    """Import a handler file as its own module, with its environment set (module-scope clients read it).
    The same file with the same environment gives the same module: tests deploy the stack many times."""
    return _load_handler(source, source.stat().st_mtime_ns, module_name, tuple(sorted(variables.items())))


@functools.lru_cache(maxsize=256)
def _load_handler(source: Path, mtime_ns: int, module_name: str, variables: tuple[tuple[str, str], ...]) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    saved, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None  # it caches credentials: read this function's instead
    try:
        with _invoke_lock, environment(dict(variables)):
            spec.loader.exec_module(module)
    finally:
        boto3.DEFAULT_SESSION = saved
    return module


def register(function: DeployedFunction) -> None:
    _functions[function.name] = function


def deployed(name: str) -> DeployedFunction:
    return _functions[name]


def invoke(function: DeployedFunction, event: Any) -> tuple[Any, bool]:
    """Run the handler as Lambda would: (result, False) or (error payload, True) for an unhandled exception."""
    request_id = str(uuid.uuid4())
    context = SimpleNamespace(
        function_name=function.name,
        aws_request_id=request_id,
        memory_limit_in_mb=128,
        get_remaining_time_in_millis=lambda: function.timeout * 1000,
    )
    record: dict[str, Any] = {"event": event}
    function.invocations.append(record)
    _runtime_writes(function)
    with _invoke_lock, environment({**function.environment, "AWS_LAMBDA_FUNCTION_NAME": function.name}):
        try:
            record["result"] = function.module.lambda_handler(event, context)
            return record["result"], False
        except Exception as error:  # noqa: BLE001 - Lambda turns any exception into a function error
            record["error"] = type(error).__name__
            return {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }, True


def _lambda_invoke(original: Any) -> Any:
    def invoke_function(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> Any:
        function = _functions.get(self.get_function(function_name, qualifier).function_name)
        if function is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        result, errored = invoke(function, json.loads(body) if body else {})
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(result).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke_function


def _cached_parse(original: Any) -> Any:
    """moto parses the definition with ANTLR on every execution (~35 ms); parse once, hand out copies."""
    cache: dict[str, Any] = {}

    def parse(definition: str) -> Any:
        if definition not in cache:
            cache[definition] = original(definition)
        program, tree = cache[definition]
        return copy.deepcopy(program), tree  # the parse tree is only read; the program keeps state while it runs

    return parse


def _interpreter_invoke(original: Any) -> Any:
    """The interpreter's Lambda tasks call registered functions directly: the same handler and error payload as
    through the Lambda API, without building a boto3 client per task (the emulator's main cost otherwise)."""

    def invoke_lambda_function(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        function = _functions.get(str(parameters["FunctionName"]).rsplit(":function:", 1)[-1].split(":")[0])
        if function is None:
            return original(parameters=parameters, region=region, state_credentials=state_credentials)
        payload = parameters.get("Payload")
        arn = str(parameters["FunctionName"])
        if (
            invoker_credentials
            and emulated_aws.enforcing()
            and not emulated_aws.authorize(invoker_credentials, "lambda:InvokeFunction", arn, region)
        ):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to invoke {arn}"}}, "Invoke")
        fault = next((f for f in lambda_faults if f.function == function.logical_id and f.times > 0), None)
        if fault is not None and fault.error != "Sandbox.Timedout":
            fault.times -= 1
            raise ClientError({"Error": {"Code": fault.error, "Message": "injected by the emulator"}}, "Invoke")
        result, errored = invoke(function, json.loads(payload) if payload else {})
        if fault is not None:  # the handler ran to the end, but Lambda reports the timeout
            fault.times -= 1
            result, errored = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {function.timeout}.00 seconds"}, True
        response: dict[str, Any] = {"StatusCode": 200, "Payload": result, "ExecutedVersion": "$LATEST"}
        if errored:
            response["FunctionError"] = "Unhandled"
        return response

    return invoke_lambda_function


# --- Step Functions on the virtual clock -------------------------------------------------------------------------


def use_clock(clock: VirtualClock | None) -> None:
    global _clock
    _clock = clock


def _sleep(seconds: float, interrupt: threading.Event | None = None) -> None:
    if _clock is not None:
        _clock.sleep(seconds, interrupt)
    elif interrupt is not None:
        interrupt.wait(seconds)
    else:
        threading.Event().wait(seconds)


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    if wait_seconds > 0:
        _sleep(wait_seconds, env.program_state_event)


class _RetrySleep:
    """Stands in for the `time` module inside moto's retrier and botocore's endpoint: back-off on the virtual clock."""

    @staticmethod
    def sleep(seconds: float) -> None:
        _sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _worker_start(original: Any) -> Any:
    def start(self: Any) -> None:
        clock = _clock
        if clock is not None:
            clock.enter()  # before the thread starts, so time cannot jump past this execution's first state
            logic = self._execution_logic

            def run() -> None:
                try:
                    logic()
                finally:
                    clock.leave()

            self._execution_logic = run
        original(self)

    return start


HISTORY_QUOTA = 25_000  # Step Functions Standard: hard limit on an execution's history events


def _environment_init(original: Any) -> Any:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not hasattr(self.event_manager, "quota_environment"):  # frames (Map, Parallel) share their parent's
            self.event_manager.quota_environment = self

    return init


def _add_event(original: Any) -> Any:
    """AWS fails an execution whose history reaches 25,000 events; moto lets it grow without end."""

    def add_event(self: Any, *args: Any, **kwargs: Any) -> int:
        event_id: int = original(self, *args, **kwargs)
        environment = getattr(self, "quota_environment", None)
        if event_id == HISTORY_QUOTA and environment is not None:
            environment.set_error(
                ExecutionFailedEventDetails(
                    error="States.Runtime",
                    cause=f"The execution reached the maximum number of history events ({HISTORY_QUOTA}).",
                )
            )
        return event_id

    return add_event


def _lambda_error(original: Any) -> Any:
    """A Lambda API error reaches the state machine as Lambda.<Code> (e.g. Lambda.ServiceException); moto says 'Exception'."""

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        name = f"Lambda.{ex.response['Error']['Code']}"
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=name, cause=ex.response["Error"]["Message"])
            ),
        )

    return from_error


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        # The interpreter logs every caught error at ERROR with its parse tree; the execution history says it better.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        for backend in (LambdaBackend, LambdaSimpleBackend):  # the latter when moto runs without Docker
            backend.invoke = _lambda_invoke(backend.invoke)  # type: ignore[method-assign]
        lambda_eval_utils._invoke_lambda_function = _interpreter_invoke(lambda_eval_utils._invoke_lambda_function)
        state_task_lambda.StateTaskLambda._from_error = _lambda_error(state_task_lambda.StateTaskLambda._from_error)  # type: ignore[method-assign]
        # The interpreter parses every JSONPath on every evaluation; expressions are immutable, so parse each once.
        json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)
        result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)
        AmazonStateLanguageParser.parse = staticmethod(_cached_parse(AmazonStateLanguageParser.parse))  # type: ignore[method-assign]
        Environment.__init__ = _environment_init(Environment.__init__)  # type: ignore[method-assign]
        EventManager.add_event = _add_event(EventManager.add_event)  # type: ignore[method-assign]
        WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
        retrier_decl.time = _RetrySleep()  # type: ignore[attr-defined]
        botocore_endpoint.time = _RetrySleep()  # type: ignore[attr-defined]  # the handlers' SDK retries
        ExecutionWorker.start = _worker_start(ExecutionWorker.start)  # type: ignore[method-assign]
        _installed = True
