"""One boto3 session for a command: --profile, --region, --endpoint-url (AWS_ENDPOINT_URL is honoured by boto3 itself).

It counts HTTP requests (the benchmark reports requests per object) and remembers the `Date` header of the last
response: elapsed times and ETAs are measured on the service's clock, not this machine's (no clock skew; on the local
emulator, its virtual clock).
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError, ProfileNotFound

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

POOL_SIZE = 16  # concurrent tag look-ups; also the HTTP connection pool of each client
# Seconds to open a connection (botocore's default is 60, per attempt): an AWS endpoint answers in milliseconds, and a
# mistyped or stopped endpoint should be reported in seconds, not minutes.
CONNECT_TIMEOUT = 5
_LOADER = botocore.loaders.create_loader()  # service models, read once per process however many commands run in it


class CliError(Exception):
    """A problem the operator can fix; the message is one line saying what to do. exit_code 2: bad usage or input."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def endpoint_problem(url: str) -> str | None:
    """Why botocore would refuse this endpoint URL (it needs a scheme and a host), in words."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return f"the endpoint '{url}' is not a URL: give its scheme and host, e.g. http://127.0.0.1:4599"


def origin(url: str) -> str:
    """scheme://host[:port] of a request URL, without the path and query botocore added (?bucket-region=...)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


class Aws:
    def __init__(self, profile: str | None, region: str | None, endpoint_url: str | None) -> None:
        if endpoint_url is not None and (problem := endpoint_problem(endpoint_url)) is not None:
            raise CliError(f"--endpoint-url: {problem}")
        core = botocore.session.Session()
        core.register_component("data_loader", _LOADER)
        try:  # botocore reports an unknown profile at the first read of the configuration
            self.session = boto3.session.Session(botocore_session=core, profile_name=profile, region_name=region)
            found_region = self.session.region_name
        except ProfileNotFound as error:
            raise self._no_profile(error) from error
        _LOADER.search_paths[:] = list(dict.fromkeys(_LOADER.search_paths))  # boto3 appends its data path per session
        if not found_region:
            raise CliError("no AWS Region: pass --region (e.g. --region us-east-1) or set AWS_REGION")
        self.region: str = found_region
        self.endpoint_url = endpoint_url
        self.requests = 0
        self.server_time: datetime | None = None
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._reached: set[str] = set()  # hosts that answered at least once
        self.session.events.register("before-send", self._count)
        self.session.events.register("after-call", self._remember_date)
        self.session.events.register_first("needs-retry", self._no_retry_before_any_answer)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.requests += 1

    def _remember_date(self, http_response: Any = None, **_: Any) -> None:
        date = http_response.headers.get("Date") if http_response is not None else None
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(date).astimezone(UTC)

    def _no_retry_before_any_answer(self, request_dict: Any = None, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        """A host that never answered and refuses the connection (or cannot be resolved, or times out) is reported at
        once: the SDK's retries (up to 5 attempts with back-off, about 15 s) never help a mistyped or stopped endpoint.
        Once a host has answered, a lost connection is retried as the SDK does (a long listing must survive one)."""
        host = urlsplit(request_dict["url"]).netloc if isinstance(request_dict, dict) and "url" in request_dict else ""
        if response is not None:
            with self._lock:
                self._reached.add(host)
        elif isinstance(caught_exception, EndpointConnectionError) and host not in self._reached:
            raise caught_exception

    def now(self) -> datetime:
        """The service's time as of the last response (this machine's clock before any response)."""
        return self.server_time or datetime.now(UTC)

    @staticmethod
    def _no_profile(error: ProfileNotFound) -> CliError:
        profile = error.kwargs.get("profile")
        return CliError(f"{error}: run `aws configure --profile {profile}` or pass another --profile")

    def require_credentials(self) -> None:
        try:
            credentials = self.session.get_credentials()
        except ProfileNotFound as error:
            raise self._no_profile(error) from error
        except (NoCredentialsError, ValueError) as error:
            credentials, detail = None, f" ({error})"
        else:
            detail = ""
        if credentials is None:
            raise CliError(
                f"no AWS credentials found{detail}: run `aws configure` (or `aws sso login`), pass --profile, "
                "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                config = Config(
                    retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=POOL_SIZE, connect_timeout=CONNECT_TIMEOUT
                )
                make: Any = self.session.client  # typed per service name; the typed accessors below narrow it
                try:
                    self._clients[service] = make(service, endpoint_url=self.endpoint_url, config=config)
                except NoRegionError as error:
                    raise CliError("no AWS Region: pass --region or set AWS_REGION") from error
                except ValueError as error:  # botocore: "Invalid endpoint: ..." (here: from AWS_ENDPOINT_URL or the profile)
                    if not str(error).startswith("Invalid endpoint: "):
                        raise
                    url = str(error).removeprefix("Invalid endpoint: ")
                    raise CliError(f"AWS_ENDPOINT_URL (or the profile's endpoint_url): {endpoint_problem(url)}") from error
            return self._clients[service]

    def s3(self) -> S3Client:
        client: S3Client = self.client("s3")
        return client

    def sfn(self) -> SFNClient:
        client: SFNClient = self.client("stepfunctions")
        return client

    def cloudformation(self) -> CloudFormationClient:
        client: CloudFormationClient = self.client("cloudformation")
        return client
