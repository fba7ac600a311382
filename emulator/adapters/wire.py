"""Where requests and errors cross into moto: every request is counted, injected faults are answered before moto
sees them (so a faulted request has no side effect), and emulated errors carry the HTTP status AWS sends."""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSResponse
from moto.core import serialize as moto_serialize
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.errors import ErrorShape
from moto.iam.models import get_account_id_from

from emulator.adapters.registry import bound

_ERROR_BODIES = {  # each protocol's error document
    "s3": "<Error><Code>{code}</Code><Message>{message}</Message></Error>",
    "ec2": "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
    "<RequestID>emulated</RequestID></Response>",
    "sns": "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>emulated</RequestId></ErrorResponse>",
    "dynamodb": '{{"__type": "com.amazonaws.dynamodb.v20120810#{code}", "message": "{message}"}}',
    # AWS Backup speaks REST-JSON (botocore's model): the code in "__type"; ThrottlingException is HTTP 400 (AWS Backup
    # API Reference, "Common Errors")
    "backup": '{{"__type": "{code}", "Message": "{message}"}}',
}
_CONTENT_TYPES = {"dynamodb": "application/x-amz-json-1.0", "backup": "application/json"}


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
        return ErrorShape(shape.name, model, shape._shape_resolver)  # type: ignore[attr-defined]

    return get_error_model


# JSON-protocol services answer a request IAM denies with their own error document (HTTP 400, AccessDeniedException:
# the DynamoDB, Step Functions and AWS Backup API References, "Common Errors"); moto answers every service with IAM's
# XML. ASSUMPTION: AWS Backup's (REST-JSON) denial carries the same document.
_JSON_DENIALS = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
    "sfn": "AccessDeniedException",
    "backup": "AccessDeniedException",
}


def _as_the_service_denies(service: str, response: AWSResponse | None) -> AWSResponse | None:
    if response is None or service not in _JSON_DENIALS or response.status_code != 403:
        return response
    text = response.content.decode(errors="replace")
    if "<Code>AccessDenied</Code>" not in text:
        return response
    message = text.split("<Message>", 1)[1].split("</Message>", 1)[0] if "<Message>" in text else "Access denied"
    body = json.dumps({"__type": _JSON_DENIALS[service], "message": message})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "emulated"}
    return AWSResponse(response.url, 400, headers, MockRawResponse(body))  # type: ignore[arg-type]


def _without_a_body_on_head(method: str, response: AWSResponse | None) -> AWSResponse | None:
    """A HEAD response has no body (HTTP), so the SDK reports an error's status as its code ("403", "404"); moto sends
    an error document, which the SDK would read as the code."""
    if response is None or method != "HEAD" or response.status_code < 400 or not response.content:
        return response
    return AWSResponse(response.url, response.status_code, dict(response.headers), MockRawResponse(""))  # type: ignore[arg-type]


def _stubber_call(original: Any) -> Any:
    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        if not self.enabled:
            return original(self, event_name, request, **kwargs)  # type: ignore[no-any-return]
        emulator = bound(get_account_id_from(_access_key(request)))
        if emulator is None:
            return original(self, event_name, request, **kwargs)  # type: ignore[no-any-return]
        operation = event_name.removeprefix("before-send.")
        emulator.requests[operation] += 1
        body = request.body.decode(errors="replace") if isinstance(request.body, bytes) else str(request.body or "")
        fault = emulator.faults.take_request(operation, body)
        if fault is None:
            answered = original(self, event_name, request, **kwargs)
            return _without_a_body_on_head(request.method, _as_the_service_denies(operation.split(".")[0], answered))
        # S3 answers HEAD errors with no body: the SDK then reports the status ("403", "404", "503") as the code.
        service = operation.split(".")[0]
        text = "" if request.method == "HEAD" else _ERROR_BODIES[service].format(code=fault.code, message=fault.message)
        headers = {"Content-Type": _CONTENT_TYPES.get(service, "text/xml")}
        return AWSResponse(request.url, fault.status, headers, MockRawResponse(text))  # type: ignore[arg-type]

    return call


def install() -> None:
    # moto's serializer writes a service's own error shapes only: an emulated error keeps the code and status AWS sends.
    moto_serialize.get_error_model = _error_model(moto_serialize.get_error_model)  # type: ignore[attr-defined]
    # moto's stubber hands every SDK request to moto: it is counted first, and an injected fault answers it instead.
    BotocoreStubber.__call__ = _stubber_call(BotocoreStubber.__call__)  # type: ignore[method-assign]
