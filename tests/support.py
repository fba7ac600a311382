"""Helpers the tests share (fixtures live in conftest.py): the emulator's sample archive, handlers loaded as modules,
events from events/, and the emulator server in a subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.facade import Emulator

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "my-ami-archive"


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as its own module. Its module-scope clients come from a fresh default session made
    after moto's request hook is registered (emulator.adapters imports moto), so they reach the emulator whenever one is
    open, and never AWS: a default session made before that hook (by anything that imported boto3 first) lacks it. The
    emulator's patches are installed first, as the first emulator of the process would: with the speed-only ones
    (emulator/adapters/speed.py) each new session reads botocore's models from the process's memory, not from disk
    (test modules call this at collection, once per handler, in every worker)."""
    import boto3

    from emulator.adapters.install import install  # (importing it registers moto's request hook with botocore)

    install()

    spec = importlib.util.spec_from_file_location(f"function_{name}", ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None
    try:
        spec.loader.exec_module(module)
    finally:
        boto3.DEFAULT_SESSION = saved
    return module


EVENT_DELAY = 5  # seconds from an S3 or EC2 event to the stack (pinned; the world draws 0.5 s to 5 min otherwise)


def archive(
    aws: Emulator,
    storage_class: str,
    *,
    restore_hours: float | None = None,
    image_minutes: float = 15,
    size_gb: float = 8,
    name: str = "web-server-2025-01",
    archive_status: str | None = None,
    events: bool = True,
) -> str:
    """An AMI archived in BUCKET, with its restore and image-restore durations pinned (the world draws them otherwise).
    `events`: the bucket sends its events to EventBridge, as the README advises (else the waits poll only); every
    event (S3's and EC2's) then reaches its targets EVENT_DELAY seconds after it happened."""
    key = aws.archive_ami(name, BUCKET, storage_class, archive_status, size_gb=size_gb)
    if events:
        aws.send_bucket_events(BUCKET)
    aws.world.event_delay_seconds = EVENT_DELAY
    if restore_hours is not None:
        aws.world.restore_seconds[key] = restore_hours * 3600
    aws.world.image_seconds[key] = image_minutes * 60
    return key


def images(aws: Emulator) -> list[dict[str, Any]]:
    """The AMIs the account owns: restored ones, and any a test registered."""
    found: list[dict[str, Any]] = aws.client("ec2").describe_images(Owners=["self"])["Images"]
    return found


def event(name: str) -> Any:
    return json.loads((ROOT / "events" / name).read_text())


# A stand-in for the stack's state machines in handler tests: it holds for $.test.holdSeconds of virtual time (an
# execution that is still RUNNING), then ends as $.test says: failed with $.test.error and $.test.cause, or succeeded
# with $.test.output. Its input is otherwise the input a handler reads (DescribeExecution); without "test" it succeeds
# at once.
STAND_IN = {
    "StartAt": "Instructed?",
    "States": {
        "Instructed?": {"Type": "Choice", "Choices": [{"Variable": "$.test", "IsPresent": True, "Next": "Hold"}], "Default": "Done"},
        "Done": {"Type": "Succeed"},
        "Hold": {"Type": "Wait", "SecondsPath": "$.test.holdSeconds", "Next": "Fails?"},
        "Fails?": {"Type": "Choice", "Choices": [{"Variable": "$.test.error", "IsPresent": True, "Next": "Fail"}], "Default": "Succeed"},
        "Fail": {"Type": "Fail", "ErrorPath": "$.test.error", "CausePath": "$.test.cause"},
        "Succeed": {"Type": "Pass", "OutputPath": "$.test.output", "End": True},
    },
}
ACCOUNT, REGION = "123456789012", "us-east-1"


def stand_in(aws: Emulator, name: str) -> str:
    """A state machine of this name running STAND_IN (created once per account): its ARN."""
    sfn = aws.client("stepfunctions")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    if arn not in {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}:
        sfn.create_state_machine(name=name, definition=json.dumps(STAND_IN), roleArn=f"arn:aws:iam::{ACCOUNT}:role/stand-in")
    return arn


def stand_in_run(aws: Emulator, machine: str, name: str, payload: dict[str, Any], *, hold: int = 0, **test: Any) -> str:
    """Start an execution of a stand-in machine with `payload` (plus, given any, its "test" instructions: output=...,
    or error=... and cause=...); with hold=0 it has ended when this returns, else it is RUNNING for `hold` virtual
    seconds (the virtual clock jumps when every execution waits: hold it still with aws.clock.hold() meanwhile)."""
    import time

    sfn = aws.client("stepfunctions")
    given = {**payload, "test": {"holdSeconds": hold, **test}} if hold or test else payload
    arn: str = sfn.start_execution(stateMachineArn=stand_in(aws, machine), name=name, input=json.dumps(given))["executionArn"]
    deadline = time.monotonic() + 20
    while hold == 0 and sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the stand-in is still RUNNING after 20 real seconds"
        time.sleep(0.01)
    return arn


def until_entered(aws: Emulator, arn: str, state: str, times: int = 1) -> None:
    """Wait (real time, at most 20 s) until the execution has entered `state` `times` times: with the virtual clock held
    (aws.clock.hold()), the execution then stands there while the test acts (stops it, starts another...)."""
    import time

    from botocore.exceptions import ClientError

    def entered() -> int:
        try:
            return sum(1 for e in aws.history(arn) if e.get("stateEnteredEventDetails", {}).get("name") == state)
        except ClientError as error:  # an execution another one starts may not be there yet
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return 0

    deadline = time.monotonic() + 20
    while entered() < times:
        assert time.monotonic() < deadline, f"{arn} never entered {state!r} within 20 real seconds"
        time.sleep(0.01)


@contextlib.contextmanager
def paused_at(aws: Emulator, seconds: float) -> Iterator[None]:
    """Let virtual time run `seconds` further, then keep it still while the test acts (stops an execution at that
    instant...): a participant of the clock that sleeps until then and stays awake until the block ends."""
    with started_and_paused_at(aws, lambda: "", seconds):
        yield


@contextlib.contextmanager
def started_and_paused_at(aws: Emulator, start: Callable[[], str], seconds: float) -> Iterator[str]:
    """paused_at with `start` (which starts an execution: its ARN) called inside: virtual time cannot move between the
    start and the pause, `seconds` after it."""
    clock, reached, release = aws.clock, threading.Event(), threading.Event()

    def holder() -> None:
        try:
            clock.sleep(seconds)
            reached.set()
            release.wait()
        finally:
            clock.leave()

    # It counts from here, in the caller's thread: a thread that entered only once it ran could let time jump past
    # `seconds` while it was being started (when nothing else is awake).
    clock.enter()
    started = start()
    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert reached.wait(20), f"virtual time did not reach +{seconds} s within 20 real seconds"
    try:
        yield started
    finally:
        release.set()
        thread.join()


@dataclass
class ServerProcess:
    """`python -m tools.server` on a free 127.0.0.1 port: its banner, and every line it printed after it (emails)."""

    port: int
    banner: str
    printed: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def emulator_server(*args: str) -> Iterator[ServerProcess]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-m", "tools.server", "--port", str(port), *args]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    banner = ""
    while "Ctrl-C" not in banner:
        line = process.stdout.readline()
        assert line, f"server exited early: {banner}"
        banner += line
    running = ServerProcess(port, banner)
    # Keep reading, so the server never blocks on a full pipe, and the tests can see the emails it prints.
    threading.Thread(target=lambda: running.printed.extend(iter(process.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    try:
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
