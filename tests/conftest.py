"""Shared fixtures: every test talks to the local emulator only (fake credentials, explicit region)."""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import BUCKET

# Handlers create their clients at import: give them a region and fake credentials, never real ones.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ[_name] = "testing"
os.environ.pop("AWS_PROFILE", None)

LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _loopback_only(original: Any) -> Any:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK and host is not None:
            raise ConnectionRefusedError(f"the tests talk only to loopback addresses, not {host}")
        return original(host, *args, **kwargs)

    return getaddrinfo


# A request that escaped the emulator (a client made without moto's hook) fails here at once, before any name lookup.
socket.getaddrinfo = _loopback_only(socket.getaddrinfo)

if TYPE_CHECKING:  # imported where used: pytest-xdist's controller loads this file too, and runs no test
    from emulator.facade import Emulator


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
    collection walked all of them again. Re-measured after the emulator was split into layers (2026-12-07, 425 tests,
    2 cores, quiet): `make test` took 80-82 s with it and 89-91 s without it, twice each: it still saves a tenth (kept
    for that; remove it when it saves less). Once a module- or session-scoped fixture (a module's emulator) is torn
    down, everything is collectable again for one full collection, so that what it held is freed and its finalizers
    run."""
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
