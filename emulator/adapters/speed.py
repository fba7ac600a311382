"""Patches that only save time: every one gives the same answers as moto and botocore without it, only faster.

Switched off with EMULATOR_SPEEDUPS=0 in the environment (read once, when the first emulator of the process opens):
the same results, slower (tests/emulator/test_speed.py runs one scenario both ways). What each saves was measured
when it was added (commit messages; `make test` went from about 115 s to 50 s with them).

Its memory (`remember`) is the emulator's only cache: a bounded store of values that depend on their key alone
(botocore clients, handler modules, the translated template), kept per process.
"""

from __future__ import annotations

import copy
import functools
import os
import pickle
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from types import SimpleNamespace
from typing import Any, TypeVar

import moto.backend_index as backend_index
from botocore import client as botocore_client
from botocore import loaders, useragent
from moto import backends
from moto.core import responses as moto_responses
from moto.core.base_backend import BackendDict
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.request import normalize_request
from moto.core.utils import get_equivalent_url_in_aws_domain
from moto.kms import models as kms_models
from moto.kms import utils as kms_utils
from moto.moto_api import recorder
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.eval import states as states_data
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from werkzeug.exceptions import HTTPException

T = TypeVar("T")
SWITCH = "EMULATOR_SPEEDUPS"

_DECIDED: list[bool] = []  # [on]: decided once per process
_MEMORY: dict[str, OrderedDict[Hashable, Any]] = {}  # namespace -> key -> value, least recently used first


def enabled() -> bool:
    if not _DECIDED:
        _DECIDED.append(os.environ.get(SWITCH, "1") != "0")
    return _DECIDED[0]


def remember(namespace: str, key: Hashable, compute: Callable[[], T], keep: int = 256) -> T:
    """`compute()`, remembered under `key` (at most `keep` values per namespace); computed every time when off."""
    if not enabled():
        return compute()
    values = _MEMORY.setdefault(namespace, OrderedDict())
    if key in values:
        values.move_to_end(key)
        found: T = values[key]
        return found
    value = values[key] = compute()
    if len(values) > keep:
        values.popitem(last=False)
    return value


def remembered_count(namespace: str) -> int:
    return len(_MEMORY.get(namespace, ()))


# --- botocore: models read once, client methods built once ----------------------------------------------------------


def _shared_cache(original: Any) -> Any:
    loaded: dict[tuple[str, ...], dict[Any, Any]] = {}  # search paths -> what a Loader with those paths has read

    def init(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._cache = loaded.setdefault(tuple(self.search_paths), {})  # type: ignore[attr-defined]

    return init


def _remembered_methods(original: Any) -> Any:
    made: dict[int, tuple[Any, dict[str, Any]]] = {}  # id of a service's model document -> (it, its client methods)

    def create_methods(self: Any, service_model: Any) -> dict[str, Any]:
        document = service_model._service_description
        if id(document) not in made or made[id(document)][0] is not document:
            made[id(document)] = document, original(self, service_model)
        return dict(made[id(document)][1])  # a copy: the creating-client-class handlers add to it

    return create_methods


# --- moto's stubber: a request's handler found once per URL -------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def route(url: str) -> tuple[str, Callable[..., Any]] | None:
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
        found = None if passthrough_url(url) else route(url)
        if found is None or passthrough_service(found[0]) or not service_whitelisted(found[0]):
            return original(self, request)  # moto's own answer: passthrough, not whitelisted, not implemented
        service, handler = found
        _default_backend(service)
        normalized = normalize_request(request)
        try:
            recorder._record_request(normalized)
            status, headers, body = handler(normalized, normalized.raw_url, normalized.headers)
        except HTTPException as e:
            status, headers, body = e.code, e.get_headers(), e.get_body()
        return status, headers, body

    return process_request


# --- moto's Step Functions interpreter: the definition and paths parsed once, JSON copied as JSON ---------------------


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


# --- moto's KMS: asymmetric key material drawn when first used ---------------------------------------------------------


class _Undrawn:
    def __init__(self, key_spec: str) -> None:
        self.key_spec = key_spec


def _private_key(key: Any) -> Any:
    value = key.__dict__["_private_key"]
    if isinstance(value, _Undrawn):
        value = key.__dict__["_private_key"] = kms_utils.generate_private_key(value.key_spec)
    return value


def _set_private_key(key: Any, value: Any) -> None:
    key.__dict__["_private_key"] = value


def install() -> None:
    if not enabled():
        return
    # botocore: each new client builds one method per operation of its service (EC2: 700), with an operation model for
    # its docstring; the methods only name the operation, so one set per service model serves every client.
    creator: Any = botocore_client.ClientCreator  # (botocore's stubs do not list its private methods)
    creator._create_methods = _remembered_methods(creator._create_methods)
    # botocore: every session has its own Loader, and each read the same models again (EC2's four times) and listed
    # the data directory again (a second of every process's first deployment); Loaders with the same search paths
    # now share what they read, as the clients of one session always did.
    loaders.Loader.__init__ = _shared_cache(loaders.Loader.__init__)  # type: ignore[method-assign]
    # moto's stubber tries every service's URL patterns, then rebuilds that service's URL table and matches it (a tenth
    # of every request): the handler is looked up once per URL instead.
    BotocoreStubber.process_request = _routed(BotocoreStubber.process_request)  # type: ignore[method-assign]
    # botocore sanitizes each User-Agent component character by character, and moto lists a response class's methods
    # with inspect.getmembers to find the action, on every request: both pure, remembered (a tenth of the suite's CPU).
    useragent.sanitize_user_agent_string_component = functools.lru_cache(maxsize=4096)(useragent.sanitize_user_agent_string_component)
    moto_responses.method_names_from_class = functools.lru_cache(maxsize=256)(moto_responses.method_names_from_class)  # type: ignore[attr-defined]
    # moto's interpreter parses the definition and each JSONPath again on every use: parsed once.
    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[attr-defined]
    AmazonStateLanguageParser.parse = staticmethod(_cached_parse(AmazonStateLanguageParser.parse))  # type: ignore[method-assign]
    # moto's interpreter deep-copies a state's JSON on every path it reads: copied as JSON (its only use of copy).
    states_data.copy = SimpleNamespace(deepcopy=_copy_json)  # type: ignore[attr-defined,assignment]
    string_expression.copy = SimpleNamespace(deepcopy=_copy_json)  # type: ignore[attr-defined,assignment]
    # moto's KMS draws an RSA-2048 private key for every CreateKey, symmetric keys included (60 ms of every stack
    # deployment): drawn on the first Sign, Verify or GetPublicKey instead, the same key moto would give.
    kms_models.generate_private_key = _Undrawn  # type: ignore[attr-defined,assignment]  # what Key.__init__ calls
    kms_models.Key.private_key = property(_private_key, _set_private_key)  # type: ignore[assignment]
