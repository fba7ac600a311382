"""Where requests and errors cross into moto: every request is counted, injected faults are answered before moto
sees them (so a faulted request has no side effect), and emulated errors carry the HTTP status AWS sends."""

from __future__ import annotations

import functools
from typing import Any

from botocore import loaders, useragent
from botocore.awsrequest import AWSResponse
from moto.core import responses as moto_responses
from moto.core import serialize as moto_serialize
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.errors import ErrorShape
from moto.iam.models import get_account_id_from
from moto.s3.exceptions import S3ClientError

from emulator import binding


class EmulatedError(S3ClientError):
    """An AWS error moto does not model, with the HTTP status AWS sends (S3's handler only serializes its own
    error class; EC2's serializes any ServiceException, which this is too)."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(code, message)
        self.http_status = http_status


_ERROR_BODIES = {  # each protocol's error document
    "s3": "<Error><Code>{code}</Code><Message>{message}</Message></Error>",
    "ec2": "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
    "<RequestID>emulated</RequestID></Response>",
    "sns": "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>emulated</RequestId></ErrorResponse>",
    "dynamodb": '{{"__type": "com.amazonaws.dynamodb.v20120810#{code}", "message": "{message}"}}',
}
_CONTENT_TYPES = {"dynamodb": "application/x-amz-json-1.0"}


def _access_key(request: Any) -> str:
    authorization = request.headers.get("Authorization", b"")
    text = authorization.decode() if isinstance(authorization, bytes) else str(authorization)
    return text.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in text else ""


def _error_model(original: Any) -> Any:
    def get_error_model(exception: Exception, service_model: Any) -> ErrorShape:
        shape: ErrorShape = original(exception, service_model)
        status = getattr(exception, "http_status", None)
        if status is None:
            return shape
        model = dict(shape._shape_model)
        model["error"] = {**model.get("error", {}), "code": getattr(exception, "code", shape.name), "httpStatusCode": status}
        return ErrorShape(shape.name, model)

    return get_error_model


def _stubber_call(original: Any) -> Any:
    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        if not self.enabled:
            return original(self, event_name, request, **kwargs)  # type: ignore[no-any-return]
        emulator = binding.bound(get_account_id_from(_access_key(request)))
        if emulator is None:
            return original(self, event_name, request, **kwargs)  # type: ignore[no-any-return]
        operation = event_name.removeprefix("before-send.")
        emulator.requests[operation] += 1
        body = request.body.decode(errors="replace") if isinstance(request.body, bytes) else str(request.body or "")
        fault = emulator.faults.take_request(operation, body)
        if fault is None:
            return original(self, event_name, request, **kwargs)  # type: ignore[no-any-return]
        # S3 answers HEAD errors with no body: the SDK then reports the status ("403", "404", "503") as the code.
        service = operation.split(".")[0]
        text = "" if request.method == "HEAD" else _ERROR_BODIES[service].format(code=fault.code, message=fault.message)
        headers = {"Content-Type": _CONTENT_TYPES.get(service, "text/xml")}
        return AWSResponse(request.url, fault.status, headers, MockRawResponse(text))  # type: ignore[arg-type]

    return call


def _shared_cache(original: Any) -> Any:
    def init(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._cache = _LOADED.setdefault(tuple(self.search_paths), {})  # type: ignore[attr-defined]

    return init


_LOADED: dict[tuple[str, ...], dict[Any, Any]] = {}  # search paths -> what a Loader with those paths has read


def install() -> None:
    # Every botocore session has its own Loader, and each read the same models again (EC2's four times) and listed the
    # data directory again: about a second of every process's first deployment. Loaders that search the same paths
    # now share what they read, as the clients of one session always did.
    loaders.Loader.__init__ = _shared_cache(loaders.Loader.__init__)  # type: ignore[method-assign]
    # Two pure functions every request calls, remembered (time only: a tenth of the suite's CPU went to them). botocore
    # sanitizes each User-Agent component character by character; moto lists a response class's methods with
    # inspect.getmembers to find the action (the emulator's patches are all in place before the first request).
    useragent.sanitize_user_agent_string_component = functools.lru_cache(maxsize=4096)(useragent.sanitize_user_agent_string_component)
    moto_responses.method_names_from_class = functools.lru_cache(maxsize=256)(moto_responses.method_names_from_class)  # type: ignore[attr-defined]
    moto_serialize.get_error_model = _error_model(moto_serialize.get_error_model)  # type: ignore[attr-defined]
    BotocoreStubber.__call__ = _stubber_call(BotocoreStubber.__call__)  # type: ignore[method-assign]
