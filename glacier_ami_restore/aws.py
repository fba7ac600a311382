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

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import NoCredentialsError, NoRegionError, ProfileNotFound

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

POOL_SIZE = 16  # concurrent tag look-ups; also the HTTP connection pool of each client
_LOADER = botocore.loaders.create_loader()  # service models, read once per process however many commands run in it


class CliError(Exception):
    """A problem the operator can fix; the message is one line saying what to do. exit_code 2: bad usage or input."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Aws:
    def __init__(self, profile: str | None, region: str | None, endpoint_url: str | None) -> None:
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
        self.session.events.register("before-send", self._count)
        self.session.events.register("after-call", self._remember_date)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.requests += 1

    def _remember_date(self, http_response: Any = None, **_: Any) -> None:
        date = http_response.headers.get("Date") if http_response is not None else None
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(date).astimezone(UTC)

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
                config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=POOL_SIZE)
                make: Any = self.session.client  # typed per service name; the typed accessors below narrow it
                try:
                    self._clients[service] = make(service, endpoint_url=self.endpoint_url, config=config)
                except NoRegionError as error:
                    raise CliError("no AWS Region: pass --region or set AWS_REGION") from error
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
