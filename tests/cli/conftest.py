"""The emulator server over HTTP on 127.0.0.1 and a way to run the command line against it (public AWS APIs only)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from glacier_ami_restore.cli import cli
from tests.conftest import ROOT

# The one place naming the server: tools.server once the emulator's entry point moves there, emulator.server before.
SERVER_MODULE = "tools.server" if (ROOT / "tools" / "server.py").exists() else "emulator.server"
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


OWN_BUCKET = "cli-test-archive"
OWN_AMIS = ("mail-server-2025-06", "dns-server-2025-03", "ntp-server-2025-02")  # archived by the fixture in GLACIER, to restore


@dataclass(frozen=True)
class Server:
    endpoint: str
    state_machine: str
    keys: dict[str, str]  # storage class (as the banner prints it) -> object key of the server's samples
    own: dict[str, str]  # name -> key of the AMIs this fixture archived in OWN_BUCKET
    banner: str

    def client(self, service: str) -> Any:
        make: Any = boto3.client
        return make(service, endpoint_url=self.endpoint, region_name=REGION, **{k.lower(): v for k, v in FAKE.items()})


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def archive_own_amis(server: Server) -> dict[str, str]:
    """As the archive side does, through public APIs: register an AMI, CreateStoreImageTask it, deregister it, and move the
    object to GLACIER (what the lifecycle rule would do). Restores in tests use these, so the samples stay as listed."""
    s3, ec2 = server.client("s3"), server.client("ec2")
    s3.create_bucket(Bucket=OWN_BUCKET)
    keys = {}
    for name in OWN_AMIS:
        image_id = ec2.register_image(Name=name, Description=f"{name} backup")["ImageId"]
        key = ec2.create_store_image_task(ImageId=image_id, Bucket=OWN_BUCKET)["ObjectKey"]
        ec2.deregister_image(ImageId=image_id)
        s3.copy_object(Bucket=OWN_BUCKET, Key=key, CopySource={"Bucket": OWN_BUCKET, "Key": key}, StorageClass="GLACIER")
        keys[name] = key
    return keys


def register_stack(server: Server) -> None:
    """A stack named glacier-ami-restore whose output StateMachineArn is the deployed state machine."""
    cloudformation = server.client("cloudformation")
    try:
        cloudformation.describe_stacks(StackName=STACK)
        return
    except cloudformation.exceptions.ClientError:
        pass
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"StateMachineArn": {"Value": server.state_machine}},
    }
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", SERVER_MODULE, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    banner = ""
    assert process.stdout is not None
    while "Ctrl-C" not in banner:
        line = process.stdout.readline()
        assert line, f"server exited early: {banner}"
        banner += line
    found = re.search(r"state machine: (\S+)", banner)
    assert found is not None
    keys = {m.group(2): m.group(1) for m in re.finditer(r"s3://my-ami-archive/(\S+)  (\S+)(?:  [^\n]*)?\n", banner)}
    assert len(keys) == 4, banner
    running = Server(f"http://127.0.0.1:{port}", found.group(1), keys, {}, banner)
    register_stack(running)  # until the emulator registers the stack
    running.own.update(archive_own_amis(running))
    try:
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


def run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """The command line in this process (click's runner): stdout is not a terminal, so plain output."""
    result = CliRunner(mix_stderr=False).invoke(cli, list(args), env={**ISOLATED, **FAKE, **(env or {})}, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def normalise_ids(text: str, server: Server) -> str:
    """Image ids are random per server run: name them by the sample they belong to (same width, stable order)."""
    for number, storage_class in enumerate(sorted(server.keys), start=1):
        image_id = server.keys[storage_class].removesuffix(".bin")
        text = text.replace(image_id, f"ami-{number:017d}")
    return text
