"""Lambda for the emulator: each invocation runs the project's real handler file in process.

moto's Lambda would run code in Docker (absent here) or echo canned payloads. Here a deployed function
(emulator/world/awslambda.py) is its handler module, imported with the function's environment; an unhandled exception
is a function error (so Retry and Catch behave as on AWS); Lambda service errors and timeouts come from the emulator's
faults. With IAM enforced, the state machine may invoke only what its role allows, and the runtime writes logs and
traces with the function's role (AWS drops what it may not write; the function still runs). An asynchronous
invocation (an EventBridge target) is retried and then sent to the dead-letter queue as Lambda does ([L-ASYNC]).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import traceback
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore import endpoint as botocore_endpoint
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from emulator.adapters import iam, speed
from emulator.adapters.process import HANDLER_TURN, enforcing
from emulator.adapters.registry import Account, bound
from emulator.adapters.waits import RetrySleep
from emulator.world.awslambda import DeployedFunction
from emulator.world.facts import ASYNC_RETRY_MINUTES


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
    """Import a handler file as its own module, with its environment set (module-scope clients read it). The same
    file with the same environment gives the same module (remembered: tests deploy the stack many times)."""
    key = (source, source.stat().st_mtime_ns, module_name, tuple(sorted(variables.items())))
    return speed.remember("handler-module", key, lambda: _load_handler(source, module_name, variables))


def _fresh_default_session() -> boto3.session.Session:
    """A default session that reads this function's credentials from its environment (botocore's service models are
    data: read once per process)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", speed.remember("botocore-loader", "models", botocore.loaders.create_loader))
    return boto3.session.Session(botocore_session=core)


def _load_handler(source: Path, module_name: str, variables: dict[str, str]) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    saved = boto3.DEFAULT_SESSION  # it caches credentials: read this function's instead
    try:
        with HANDLER_TURN.taken(), environment(variables):
            boto3.DEFAULT_SESSION = _fresh_default_session()
            spec.loader.exec_module(module)
    finally:
        boto3.DEFAULT_SESSION = saved
    return module


def _runtime_writes(account: Account, function: DeployedFunction) -> None:
    if not enforcing() or "AWS_ACCESS_KEY_ID" not in function.environment:
        return
    role = (function.environment["AWS_ACCESS_KEY_ID"], function.environment.get("AWS_SESSION_TOKEN"))
    region, streams = function.environment["AWS_REGION"], f"{function.log_group_arn.removesuffix(':*')}:log-stream:*"
    for action, resource in (
        ("logs:CreateLogStream", streams),
        ("logs:PutLogEvents", streams),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    ):
        allowed = iam.authorize(role, action, resource, region, account.account_id)
        account.runtime_writes.append((function.logical_id, action, allowed))


def invoke(account: Account, function: DeployedFunction, event: Any) -> tuple[Any, bool]:
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
    _runtime_writes(account, function)
    with HANDLER_TURN.taken(), environment({**function.environment, "AWS_LAMBDA_FUNCTION_NAME": function.name}):
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


def invoke_async(account: Account, function_name: str, event: Any, attempt: int = 0) -> None:
    """An EventBridge target: Lambda runs the handler asynchronously (its result goes nowhere). A function error is
    retried after 1 min, then 2 min, up to the function's MaximumRetryAttempts; then the event goes to its dead-letter
    queue, sent with the function's role (Lambda Developer Guide, "Asynchronous invocation")."""
    function = account.functions[function_name]
    fault = account.faults.take_lambda(function.logical_id)
    errored = fault is not None or invoke(account, function, event)[1]
    if not errored:
        return
    if attempt < function.max_retry_attempts:
        retry = functools.partial(invoke_async, account, function_name, event, attempt + 1)
        account.clock.call_at(account.clock.now() + timedelta(minutes=ASYNC_RETRY_MINUTES[min(attempt, 1)]), retry)
        return
    if function.dead_letter_arn:
        allowed = True
        if enforcing() and "AWS_ACCESS_KEY_ID" in function.environment:
            role = (function.environment["AWS_ACCESS_KEY_ID"], function.environment.get("AWS_SESSION_TOKEN"))
            allowed = iam.authorize(role, "sqs:SendMessage", function.dead_letter_arn, account.region, account.account_id)
            account.runtime_writes.append((function.logical_id, "sqs:SendMessage", allowed))
        if allowed:
            sqs_backends[account.account_id][account.region].send_message(function.dead_letter_arn.rsplit(":", 1)[1], json.dumps(event))


def _account_of(function_name: str) -> str:
    parts = function_name.split(":")
    return parts[4] if function_name.startswith("arn:") and len(parts) > 4 else DEFAULT_ACCOUNT_ID


def _lambda_api_invoke(original: Any) -> Any:
    """Invoke through the Lambda API (boto3 or the AWS CLI)."""

    def invoke_function(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> Any:
        account = bound(self.account_id)
        function = account.functions.get(self.get_function(function_name, qualifier).function_name) if account else None
        if account is None or function is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        result, errored = invoke(account, function, json.loads(body) if body else {})
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
        account = bound(_account_of(arn))
        function = account.functions.get(arn.rsplit(":function:", 1)[-1].split(":")[0]) if account else None
        if account is None or function is None:
            return original(parameters=parameters, region=region, state_credentials=state_credentials)
        invoker = account.invokers.get(getattr(state_credentials, "role_arn", ""))  # the execution's state machine's role
        if (
            enforcing()
            and account.invokers
            and not (invoker and iam.authorize(invoker, "lambda:InvokeFunction", arn, region, account.account_id))
        ):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to invoke {arn}"}}, "Invoke")
        fault = account.faults.take_lambda(function.logical_id)
        if fault is not None and fault.error != "Sandbox.Timedout":
            raise ClientError({"Error": {"Code": fault.error, "Message": "injected by the emulator"}}, "Invoke")
        payload = parameters.get("Payload")
        result, errored = invoke(account, function, json.loads(payload) if payload else {})
        if fault is not None:  # the handler ran to the end, but Lambda reports the timeout
            result, errored = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {function.timeout}.00 seconds"}, True
        response: dict[str, Any] = {"StatusCode": 200, "Payload": result, "ExecutedVersion": "$LATEST"}
        if errored:
            response["FunctionError"] = "Unhandled"
        return response

    return invoke_lambda_function


def install() -> None:
    # moto's Lambda runs code in Docker or echoes canned payloads: the project's handler runs, in process.
    for backend in (LambdaBackend, LambdaSimpleBackend):  # the latter when moto runs without Docker
        backend.invoke = _lambda_api_invoke(backend.invoke)  # type: ignore[method-assign]
    lambda_eval_utils._invoke_lambda_function = _interpreter_invoke(lambda_eval_utils._invoke_lambda_function)
    # botocore's retries (the handlers' SDK calls) sleep in real time: on the virtual clock.
    botocore_endpoint.time = RetrySleep()  # type: ignore[attr-defined]
