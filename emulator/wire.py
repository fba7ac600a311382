"""Where requests and errors cross into moto: every request is counted, injected faults are answered before moto
sees them (so a faulted request has no side effect), and emulated errors carry the HTTP status AWS sends."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import moto.backend_index as backend_index
from botocore import client as botocore_client
from botocore import loaders, useragent
from botocore.awsrequest import AWSResponse
from moto import backends
from moto.core import responses as moto_responses
from moto.core import serialize as moto_serialize
from moto.core.base_backend import BackendDict
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
from moto.core.errors import ErrorShape
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.request import normalize_request
from moto.core.utils import get_equivalent_url_in_aws_domain
from moto.iam.models import get_account_id_from
from moto.moto_api import recorder
from moto.s3.exceptions import S3ClientError
from werkzeug.exceptions import HTTPException

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
    loaded: dict[tuple[str, ...], dict[Any, Any]] = {}  # search paths -> what a Loader with those paths has read

    def init(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._cache = loaded.setdefault(tuple(self.search_paths), {})  # type: ignore[attr-defined]

    return init


@functools.lru_cache(maxsize=4096)
def _route(url: str) -> tuple[str, Callable[..., Any]] | None:
    """(service, moto handler) for a request URL, found as moto's stubber finds it; None where moto has no handler.
    The handlers are its services' response functions, the same in every account and after every reset."""
    for service, pattern in backend_index.backend_url_patterns:
        if pattern.match(url):
            for path, handler in _default_backend(service).urls.items():
                if re.compile(path).match(url):
                    return service, handler
            return None
    return None


def _default_backend(service: str) -> Any:
    """The default account's backend, which moto's stubber builds on each service's first request after a reset (EC2's
    draws the default VPC's ids from moto's seeded random: skipping it would shift every id drawn after it)."""
    backend_dict: Any = backends.get_backend(service)  # type: ignore[call-overload]
    if not isinstance(backend_dict, BackendDict):
        return backend_dict["global"]
    regions = backend_dict[DEFAULT_ACCOUNT_ID]
    return regions["us-east-1"] if "us-east-1" in regions else regions["aws"]


def _routed(original: Any) -> Any:
    def process_request(self: Any, request: Any) -> Any:
        parsed, _ = get_equivalent_url_in_aws_domain(request.url)
        url = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
        route = None if passthrough_url(url) else _route(url)
        if route is None or passthrough_service(route[0]) or not service_whitelisted(route[0]):
            return original(self, request)  # moto's own answer: passthrough, not whitelisted, not implemented
        service, handler = route
        _default_backend(service)
        normalized = normalize_request(request)
        try:
            recorder._record_request(normalized)
            status, headers, body = handler(normalized, normalized.raw_url, normalized.headers)
        except HTTPException as e:
            status, headers, body = e.code, e.get_headers(), e.get_body()
        return status, headers, body

    return process_request


def _remembered_methods(original: Any) -> Any:
    made: dict[int, tuple[Any, dict[str, Any]]] = {}  # id of a service's model document -> (it, its client methods)

    def create_methods(self: Any, service_model: Any) -> dict[str, Any]:
        document = service_model._service_description
        if id(document) not in made or made[id(document)][0] is not document:
            made[id(document)] = document, original(self, service_model)
        return dict(made[id(document)][1])  # a copy: the creating-client-class handlers add to it

    return create_methods


def install() -> None:
    # Each new client builds one method per operation of its service (EC2: 700), with an operation model for its
    # docstring; the methods only name the operation, so one set per service model serves every client.
    creator: Any = botocore_client.ClientCreator  # (botocore's stubs do not list its private methods)
    creator._create_methods = _remembered_methods(creator._create_methods)
    # moto's stubber finds each request's handler by trying every service's URL patterns, then rebuilding that
    # service's URL table and matching it (a tenth of every request); the handler is looked up once per URL instead.
    BotocoreStubber.process_request = _routed(BotocoreStubber.process_request)  # type: ignore[method-assign]
    # Every botocore session has its own Loader, and each read the same models again (EC2's four times) and listed the
    # data directory again: about a second of every process's first deployment. Loaders created with the same search
    # paths now share what they read, as the clients of one session always did.
    loaders.Loader.__init__ = _shared_cache(loaders.Loader.__init__)  # type: ignore[method-assign]
    # Two pure functions every request calls, remembered (time only: a tenth of the suite's CPU went to them). botocore
    # sanitizes each User-Agent component character by character; moto lists a response class's methods with
    # inspect.getmembers to find the action (the emulator's patches are all in place before the first request).
    useragent.sanitize_user_agent_string_component = functools.lru_cache(maxsize=4096)(useragent.sanitize_user_agent_string_component)
    moto_responses.method_names_from_class = functools.lru_cache(maxsize=256)(moto_responses.method_names_from_class)  # type: ignore[attr-defined]
    moto_serialize.get_error_model = _error_model(moto_serialize.get_error_model)  # type: ignore[attr-defined]
    BotocoreStubber.__call__ = _stubber_call(BotocoreStubber.__call__)  # type: ignore[method-assign]
