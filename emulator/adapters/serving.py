"""`Emulator.serve`: the emulated account over HTTP on 127.0.0.1, as moto's own server runs it (its Flask app on
werkzeug's threaded server), with two savings for the request a listing sends by the thousand (`glacier-ami-restore
list`: one GetObjectTagging per archived object), both speed only: off with the other savings (adapters/speed.py).
Measured with `make bench-list` (docs/benchmark.md).

- moto's dispatcher lists its package directory (about 180 stat calls, under its lock) on every request to see
  whether the host names a moto module. Its answer for a host cannot change in a running process, so it is kept:
  about half of the server's time for any request.
- GetObjectTagging is answered from moto's S3 backend, without moto's request parsing and response serializer, when
  nothing but the object's tags can decide the answer (`Tagging.found` lists the conditions: no IAM enforcement, no
  fault armed, no bucket policy or access logging, an unversioned object, a plain SDK request). Anything else, every
  error included, goes to moto's handler. The answer and its side effects are moto's (the request-id draws from
  moto's seeded random, the request counts, the key look-ups); tests/emulator/test_serving.py compares the two.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY
from moto.iam.models import get_account_id_from, mark_account_as_visited
from moto.moto_api import recorder
from moto.moto_server import werkzeug_app
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeKey, S3Backend, s3_backends
from moto.s3.responses import S3Response
from moto.utilities.aws_headers import gen_amzn_requestid_long
from moto.utilities.utils import get_partition
from werkzeug.serving import BaseWSGIServer, make_server

from emulator.adapters import speed
from emulator.adapters.registry import PARTITION, Account

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HOST = "127.0.0.1"
OPERATION = "s3.GetObjectTagging"  # as the emulator's faults name it
# The headers botocore (so the AWS CLI and the command line) sends on GetObjectTagging; any other one may change
# moto's answer (If-Match, Origin, x-moto-account-id, a session token...) and sends the request to moto.
SDK_HEADERS = frozenset(
    f"HTTP_{name}"
    for name in (
        *("HOST", "USER_AGENT", "X_AMZ_DATE", "X_AMZ_CONTENT_SHA256", "AUTHORIZATION", "AMZ_SDK_INVOCATION_ID", "AMZ_SDK_REQUEST"),
        *("ACCEPT", "ACCEPT_ENCODING", "CONNECTION"),
    )
)
# Path-style /bucket/key with characters that need no percent-decoding, so the names are the ones moto would parse.
OBJECT_PATH = re.compile(r"/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/((?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*)")
MOTO_PATHS = ("/moto-api", "/latest/", "/v20180820/", "/favicon.ico")  # routed by moto to its API, metadata, S3 Control
BODY_START = '<?xml version="1.0" encoding="utf-8"?>\n<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves a host (one entry per service and Region asked for)."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        # Called under the dispatcher's lock; moto's answer depends on the host alone.
        if not speed.enabled():
            return super().get_backend_for_host(host)
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


def element(name: str, text: str) -> str:
    """As moto's serializer (xmltodict on xml.sax) writes it: text escaped the same way, an empty element short."""
    return f"<{name}>{escape(text)}</{name}>" if text else f"<{name}/>"


class Tagging:
    """A WSGI app: GetObjectTagging from moto's S3 backend when only the tags decide the answer; moto otherwise."""

    def __init__(self, emulator: Account, app: WSGIApplication) -> None:
        self.emulator = emulator
        self.app = app
        self.answered = 0  # requests answered here rather than by moto (the tests check which path ran)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = self.found(environ)
        if found is None:
            return self.app(environ, start_response)
        backend, bucket, key, tags, access_key, region = found
        # moto's handler looks the key up a second time (each look-up ticks moto's state model of the key), counts the
        # request toward its no-auth allowance and records the access key's last use.
        backend.get_object(bucket, key.name)
        ActionAuthenticatorMixin.request_count += 1
        mark_account_as_visited(account_id=self.emulator.account_id, access_key=access_key, service="s3", region=region)
        tag_set = "".join(f"<Tag>{element('Key', t['Key'])}{element('Value', t['Value'])}</Tag>" for t in tags)
        body = (BODY_START + (f"<TagSet>{tag_set}</TagSet>" if tag_set else "<TagSet/>") + "</Tagging>").encode()
        headers = {"Content-Type": "application/xml", "server": "amazon.com"}
        gen_amzn_requestid_long(headers)  # draws from moto's seeded random as its handler does: the same ids follow
        headers["Content-Length"] = str(len(body))
        if not werkzeug_app.DISABLE_GLOBAL_CORS:  # type: ignore[attr-defined]  # as moto's app was made
            headers["Access-Control-Allow-Origin"] = "*"  # what flask-cors adds to every answer of moto's app
        self.answered += 1
        start_response("200 OK", list(headers.items()))
        return [body]

    def found(self, environ: WSGIEnvironment) -> tuple[S3Backend, str, FakeKey, list[dict[str, str]], str, str] | None:
        """(backend, bucket, key, tags, access key, Region) when this request is a plain GetObjectTagging of an existing
        unversioned object that moto would answer from its tags alone; None sends it to moto."""
        if environ["REQUEST_METHOD"] != "GET" or environ.get("QUERY_STRING") != "tagging":
            return None
        if any(k.startswith("HTTP_") and k not in SDK_HEADERS for k in environ) or environ.get(PRESERVED_HEADER_NAMES_ENVIRON_KEY):
            return None
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") or environ.get("HTTP_HOST", "").rsplit(":", 1)[0] != HOST:
            return None  # a body, or a host moto might read a bucket or a Region from
        path = str(environ.get("RAW_URI", "")).split("?", 1)[0]  # as sent: PATH_INFO is percent-decoded
        names = OBJECT_PATH.fullmatch(path)
        if names is None or path.startswith(MOTO_PATHS) or "amazonaws.com" in path:
            return None  # moto reads a Region from an amazonaws.com name anywhere in the URL
        scope = str(environ.get("HTTP_AUTHORIZATION", "")).split(",", 1)[0].split()
        parts = scope[1].removeprefix("Credential=").split("/") if len(scope) == 2 and scope[0] == "AWS4-HMAC-SHA256" else []
        if len(parts) != 5 or parts[3] != "s3" or S3Response.region_from_useragent_regex.search(environ.get("HTTP_USER_AGENT", "")):
            return None  # not routed to S3 by its signature, or a Region moto would take from the user agent
        access_key, region = parts[0], parts[2]
        if get_partition(region) != PARTITION or not self.only_tags_decide():
            return None
        if "MOTO_ACCOUNT_ID" in os.environ or get_account_id_from(access_key) != self.emulator.account_id:
            return None
        backend = s3_backends[self.emulator.account_id][PARTITION]
        bucket_name, key_name = names.groups()
        bucket = backend.buckets.get(bucket_name)
        if bucket is None or bucket.policy is not None or bucket.logging:
            return None  # NoSuchBucket (or a bucket of another account); a policy may deny; logging writes a record
        key = backend.get_object(bucket_name, key_name)
        if key is None or key.version_id != "null":
            return None  # NoSuchKey; a versioned object (its answer names the version)
        return backend, bucket_name, key, backend.get_object_tagging(key)["Tags"], access_key, region

    def only_tags_decide(self) -> bool:
        """No IAM (moto checks it once a finite no-auth allowance is used up), no fault armed for this operation
        (faults are the emulator's: emulator/world/faults.py), no request recording, no pretty-printed XML."""
        if not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT) or recorder._user_enabled or settings.PRETTIFY_RESPONSES:
            return False
        return not any(f.operation == OPERATION and f.times > 0 for f in self.emulator.faults.requests)


class Server:
    """Like moto's ThreadedMotoServer (werkzeug's threaded server in a daemon thread), serving `app`; the port is
    bound here, so a port in use fails at once."""

    def __init__(self, app: WSGIApplication, port: int) -> None:
        self.endpoint = f"http://{HOST}:{port}"
        self.app = app
        self._server: BaseWSGIServer = make_server(HOST, port, app, threaded=True, request_handler=MotoRequestHandler)
        # serve_forever checks for shutdown every poll_interval (0.5 s by default): stop() waits that long.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def serve(emulator: Account, port: int, shortcut: bool = True) -> Server:
    """`shortcut=False`: moto's app alone (with the kept dispatch), for comparing the two answers."""
    app: WSGIApplication = Dispatcher()
    return Server(Tagging(emulator, app) if shortcut and speed.enabled() else app, port)
