"""`make emulator`: a client in another process drives the emulator over HTTP on 127.0.0.1, as the AWS CLI would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator.server", "--port", str(port)],
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
    try:
        yield process, port, banner
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_cli_style_client_restores_an_ami_through_the_server(server: tuple[subprocess.Popen[str], int, str]) -> None:
    process, port, banner = server
    state_machine = re.search(r"state machine: (\S+)", banner).group(1)  # type: ignore[union-attr]
    key = re.search(r"s3://my-ami-archive/(\S+)  GLACIER\n", banner).group(1)  # type: ignore[union-attr]

    def client(service: str) -> Any:  # as the AWS CLI with AWS_ENDPOINT_URL would
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    sfn = client("stepfunctions")
    payload = {**json.loads((ROOT / "events/executions/glacier-standard.json").read_text()), "recoveryPoint": key}
    arn = sfn.start_execution(stateMachineArn=state_machine, name="over-http", input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED"
    image_id = json.loads(described["output"])["imageId"]
    ec2 = client("ec2")
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "available"
    # The restore took 4 h 15 min of simulated time (Standard, typical 4 h, image 15 min)
    assert (described["stopDate"] - described["startDate"]).total_seconds() == 4 * 3600 + 15 * 60
    assert process.stdout is not None
    printed = ""
    while f"AMI restored: {image_id}" not in printed:
        printed += process.stdout.readline()
