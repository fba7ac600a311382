"""Lambda for the emulator: each invocation runs the project's real handler file in process.

moto's Lambda would run code in Docker (absent here) or echo canned payloads. Here a deployed function is its
handler module, imported with the function's environment; an unhandled exception is a function error (so Retry and
Catch behave as on AWS); Lambda service errors and timeouts come from the emulator's faults. With IAM enforced, the
state machine may invoke only what its role allows, and the runtime writes logs and traces with the function's role
(AWS drops what it may not write; the function still runs).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import threading
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from emulator import binding, iam

# Handlers share os.environ (each function has its own variables), so invocations run one at a time: the thread
# whose turn it is is _holder (None: free), handed over under _turn.
_turn = threading.Condition()
_holder: int | None = None


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    module: ModuleType
    environment: dict[str, str]
    timeout: int
    source: Path
    log_group_arn: str
    role_arn: str = ""  # the execution role, as Lambda's CreateFunction answered
    invocations: list[dict[str, Any]] = field(default_factory=list)
    # Asynchronous invocations (Lambda Developer Guide, "Asynchronous invocation"): by default two retries, the
    # event kept up to 6 h; then the dead-letter queue, if any, receives it.
    dead_letter_arn: str | None = None
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 6 * 3600


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


@functools.cache
def _model_loader() -> botocore.loaders.Loader:
    """botocore's service models, parsed once per process (they are data; credentials are not in them)."""
    return botocore.loaders.create_loader()


def _fresh_default_session() -> boto3.session.Session:
    """A default session that reads this function's credentials from its environment, with the shared models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _model_loader())
    return boto3.session.Session(botocore_session=core)


@functools.lru_cache(maxsize=256)
def _load_handler(source: Path, mtime_ns: int, module_name: str, variables: tuple[tuple[str, str], ...]) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    saved = boto3.DEFAULT_SESSION  # it caches credentials: read this function's instead
    try:
        with _exclusive(), environment(dict(variables)):
            boto3.DEFAULT_SESSION = _fresh_default_session()
            spec.loader.exec_module(module)
    finally:
        boto3.DEFAULT_SESSION = saved
    return module


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One handler at a time (they share os.environ). A handler may sleep on the virtual clock while it runs (its SDK
    retries); a thread waiting for its turn counts as asleep meanwhile, or time could never move. It counts as asleep
    exactly while another thread has the turn: not once the turn is free (it is about to take it), nor once it has it
    (with a plain lock, "locked" stayed true for the new holder until it left the wait, and time jumped under it)."""
    global _holder
    me = threading.get_ident()
    with _turn:
        free = _holder is None
        if free:
            _holder = me
    if not free:
        clock = getattr(threading.current_thread(), "emulated_clock", None)
        with clock.waiting(lambda: _holder not in (None, me)) if clock is not None else contextlib.nullcontext(), _turn:
            while _holder is not None:
                _turn.wait()
            _holder = me
    try:
        yield
    finally:
        with _turn:
            _holder = None
            _turn.notify()


def _runtime_writes(emulator: Any, function: DeployedFunction) -> None:
    if not iam.enforcing() or "AWS_ACCESS_KEY_ID" not in function.environment:
        return
    role = (function.environment["AWS_ACCESS_KEY_ID"], function.environment.get("AWS_SESSION_TOKEN"))
    region, streams = function.environment["AWS_REGION"], f"{function.log_group_arn.removesuffix(':*')}:log-stream:*"
    for action, resource in (
        ("logs:CreateLogStream", streams),
        ("logs:PutLogEvents", streams),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    ):
        allowed = iam.authorize(role, action, resource, region, emulator.account_id)
        emulator.runtime_writes.append((function.logical_id, action, allowed))


def invoke(emulator: Any, function: DeployedFunction, event: Any) -> tuple[Any, bool]:
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
    _runtime_writes(emulator, function)
    with _exclusive(), environment({**function.environment, "AWS_LAMBDA_FUNCTION_NAME": function.name}):
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


def _account_of(function_name: str) -> str:
    parts = function_name.split(":")
    return parts[4] if function_name.startswith("arn:") and len(parts) > 4 else DEFAULT_ACCOUNT_ID


def _lambda_api_invoke(original: Any) -> Any:
    """Invoke through the Lambda API (boto3 or the AWS CLI)."""

    def invoke_function(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> Any:
        emulator = binding.bound(self.account_id)
        function = emulator.functions.get(self.get_function(function_name, qualifier).function_name) if emulator else None
        if function is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        result, errored = invoke(emulator, function, json.loads(body) if body else {})
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(result).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke_function


def _interpreter_invoke(original: Any) -> Any:
    """The interpreter's Lambda tasks call the registered function directly: the same handler and error payload as
    through the Lambda API, without building a boto3 client per task (the emulator's main cost otherwise)."""

    def invoke_lambda_function(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        arn = str(parameters["FunctionName"])
        emulator = binding.bound(_account_of(arn))
        function = emulator.functions.get(arn.rsplit(":function:", 1)[-1].split(":")[0]) if emulator else None
        if emulator is None or function is None:
            return original(parameters=parameters, region=region, state_credentials=state_credentials)
        invoker = emulator.invoker_credentials
        if invoker and iam.enforcing() and not iam.authorize(invoker, "lambda:InvokeFunction", arn, region, emulator.account_id):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to invoke {arn}"}}, "Invoke")
        fault = emulator.faults.take_lambda(function.logical_id)
        if fault is not None and fault.error != "Sandbox.Timedout":
            raise ClientError({"Error": {"Code": fault.error, "Message": "injected by the emulator"}}, "Invoke")
        payload = parameters.get("Payload")
        result, errored = invoke(emulator, function, json.loads(payload) if payload else {})
        if fault is not None:  # the handler ran to the end, but Lambda reports the timeout
            result, errored = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {function.timeout}.00 seconds"}, True
        response: dict[str, Any] = {"StatusCode": 200, "Payload": result, "ExecutedVersion": "$LATEST"}
        if errored:
            response["FunctionError"] = "Unhandled"
        return response

    return invoke_lambda_function


def install() -> None:
    for backend in (LambdaBackend, LambdaSimpleBackend):  # the latter when moto runs without Docker
        backend.invoke = _lambda_api_invoke(backend.invoke)  # type: ignore[method-assign]
    lambda_eval_utils._invoke_lambda_function = _interpreter_invoke(lambda_eval_utils._invoke_lambda_function)
