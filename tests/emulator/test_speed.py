"""The patches that only save time (emulator/adapters/speed.py) change no answer: one restore, run here with them and in
a fresh process without them (EMULATOR_SPEEDUPS=0), gives the same execution, emails and request counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.speed_scenario import restore

pytestmark = pytest.mark.long  # a fresh process without the savings

ROOT = Path(__file__).resolve().parents[2]


def without_speedups() -> dict[str, Any]:
    env = {**os.environ, "EMULATOR_SPEEDUPS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.emulator.speed_scenario"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_a_restore_answers_the_same_with_and_without_the_speed_only_patches() -> None:
    # Given the same seeded restore (a 40 GB AMI in Flexible Retrieval, 4 h to restore, 30 min to rebuild)
    fast, slow = restore(), without_speedups()
    # Then both succeed the same way: same states, same AMI id, same emails, same requests, same simulated time
    assert fast["status"] == "SUCCEEDED"
    assert fast["seconds"] == slow["seconds"] == 4 * 3600 + 1800 + 5 + 5
    assert fast == slow
