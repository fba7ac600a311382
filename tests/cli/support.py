"""Helpers of the command line's tests (the server fixture lives in conftest.py): the emulator server's facts, a way to
run the command line against it (public AWS APIs only), golden files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from glacier_ami_restore.cli import cli

SERVER_MODULE = "tools.server"
REGION = "us-east-1"
STACK = "glacier-ami-restore"
FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Never real endpoints or real credentials: no profile, no config files, no instance metadata.
ISOLATED = {
    "AWS_ENDPOINT_URL": None,
    "AWS_PROFILE": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_SECURITY_TOKEN": None,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": None,
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
}


GOLDEN = Path(__file__).parent / "golden"
OWN_BUCKET = "cli-test-archive"
# Archived by the fixture in GLACIER, to restore: by the command line, and (the last) by a plain SDK client
OWN_AMIS = (
    "mail-server-2025-06", "dns-server-2025-03", "ntp-server-2025-02", "api-server-2025-04", "log-server-2025-05", "vpn-server-2025-05"
)  # fmt: skip
BACKUPS = {"ledger-2025-11": 40, "ledger-2026-01": 3}  # AWS Backup EC2 recovery points of vault "daily": name -> days old
# Archived by the fixture in GLACIER for the drills (the stack's DrillBucketName is OWN_BUCKET): 8 GB, drilled only by name
DRILL_AMI = "drill-server-2025-05"


@dataclass(frozen=True)
class Server:
    endpoint: str
    state_machine: str
    keys: dict[str, str]  # storage class (as the banner prints it) -> object key of the server's samples
    own: dict[str, str]  # name -> key of the AMIs this fixture archived in OWN_BUCKET
    banner: str
    printed: list[str]  # what the server printed after its banner (the emails), as it prints it
    archive_bucket: str  # the archive side's bucket (the stack's ArchiveBucket)
    points: dict[str, str]  # name -> ARN of the recovery points of BACKUPS

    def client(self, service: str) -> Any:
        make: Any = boto3.client
        return make(service, endpoint_url=self.endpoint, region_name=REGION, **{k.lower(): v for k, v in FAKE.items()})


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run(*args: str, env: Mapping[str, str | None] | None = None, answer: str | None = None) -> Result:
    """The command line in this process (click's runner): stdout is not a terminal, so plain output; `answer` is typed."""
    environment = {**ISOLATED, **FAKE, **(env or {})}
    result = CliRunner(mix_stderr=False).invoke(cli, list(args), input=answer, env=environment, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def normalise_ids(text: str, server: Server) -> str:
    """Image ids are random per server run: name them by the sample they belong to (same width, stable order)."""
    for number, storage_class in enumerate(sorted(server.keys), start=1):
        image_id = server.keys[storage_class].removesuffix(".bin")
        text = text.replace(image_id, f"ami-{number:017d}")
    return text


def golden(name: str, text: str) -> str:
    """The golden file's text (UPDATE_GOLDEN=1 first rewrites it with `text`: then read the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    return path.read_text()
