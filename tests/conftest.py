"""Shared fixtures: every test talks to the local emulator only (fake credentials, explicit region)."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Handlers create their clients at import: give them a region and fake credentials, never real ones.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ[_name] = "testing"
os.environ.pop("AWS_PROFILE", None)

if TYPE_CHECKING:  # imported where used: pytest-xdist's controller loads this file too, and runs no test
    from emulator.facade import Emulator

BUCKET = "my-ami-archive"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked `long` are queued first, each module's tests still side by side in the queue: the workers then
    end on short tests, which they steal from each other, instead of one waiting for the other's last long test."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: the order within stays


_OUTLIVED_A_TEST = pytest.StashKey[bool]()  # a fixture wider than one test was just torn down


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    if fixturedef.scope != "function":
        request.config.stash[_OUTLIVED_A_TEST] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After each test, collect its garbage and set what survives aside from the cyclic collector (gc.freeze). Each
    process keeps half a million long-lived objects (botocore's models, moto, the parsed definition), and every full
    collection walked all of them again: a tenth of the suite's CPU (14 full collections, 3 s, in test_faults and
    test_workflow). Once a module- or session-scoped fixture (a module's emulator) is torn down, everything is
    collectable again for one full collection, so that what it held is freed and its finalizers run."""
    yield
    if item.config.stash.get(_OUTLIVED_A_TEST, False):
        item.config.stash[_OUTLIVED_A_TEST] = False
        gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.fixture
def aws() -> Iterator[Emulator]:
    """A fresh emulated account on the virtual clock (nothing deployed)."""
    from emulator.facade import Emulator

    with Emulator() as emulator:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        yield emulator


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as its own module (inside an active emulator: its clients are mocked)."""
    spec = importlib.util.spec_from_file_location(f"function_{name}", ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
