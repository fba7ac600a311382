"""The facade's window into moto: the mock session, the account's credentials, and what the tests read straight from
moto's backends (faster than through the API, and the same facts: tests/emulator/test_history.py compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.moto_api._internal import mock_random
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "MockSession",
    "account_keys",
    "backup_image",
    "events",
    "execution",
    "is_running",
    "reseed",
    "sent_messages",
]


class MockSession:
    """moto's mock of every service, running the state machines (Lambda without Docker: the adapters run handlers)."""

    def __init__(self) -> None:
        # moto would also drop boto3's default session on every start (against cached real credentials); the emulator
        # runs with fake ones only, and keeping it saves re-parsing the service models for every handler import.
        config: Any = {
            "stepfunctions": {"execute_state_machine": True},
            "lambda": {"use_docker": False},
            "core": {"reset_boto3_session": False},
        }
        self._mock = mock_aws(config=config)

    def start(self, seed: int) -> None:
        self._mock.start()
        mock_random.seed(seed)  # moto's ids (AMIs, so object keys) follow the seed: the same world every run

    def stop(self) -> None:
        self._mock.stop()


def reseed(seed: str) -> None:
    """moto's ids are drawn from here on as from a fresh process seeded with `seed`."""
    mock_random.seed(seed)


def account_keys(account_id: str, region: str) -> dict[str, str]:
    """Access keys that moto maps to this account (a user of it)."""
    backend = iam_backends[account_id]["aws"]
    backend.create_user(region_name=region, user_name="emulator")
    key = backend.create_access_key("emulator")
    return {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key}


def execution(account_id: str, region: str, arn: str) -> Any:
    backend = stepfunctions_parser_backends[account_id][region]
    return next(e for e in backend._get_executions() if e.execution_arn == arn)


def is_running(found: Any) -> bool:
    return found.exec_status in (None, ExecutionStatus.RUNNING)


def announced(found: Any, timeout: float) -> bool:
    """Wait (real time, at most `timeout`) until the ended execution's status change is on the bus: its status is set
    a moment before, in the execution's own thread."""
    event = getattr(found, "emulated_announced", None)
    return event is None or bool(event.wait(timeout))


def events(found: Any) -> list[dict[str, Any]]:
    """An execution's history as the interpreter recorded it (enums and strings: as_the_api_answers converts)."""
    history: list[dict[str, Any]] = found.exec_worker.env.event_manager.get_event_history()
    return history


def sent_messages(account_id: str, region: str, topic_arn: str) -> list[tuple[str, str]]:
    """(subject, message) of everything published to the topic, oldest first."""
    topic = sns_backends[account_id][region].topics[topic_arn]
    return [(subject or "", message) for _id, message, subject, _attrs, _group in topic.sent_notifications]


def backup_image(account_id: str, region: str, image_id: str, when: datetime, owner_id: str | None = None) -> None:
    """An image a backup job made `when` (days ago; moto dates it at its registration), in another account when given
    (with its snapshots: a logically air-gapped vault's, which AWS Backup keeps in an account of its own)."""
    ec2 = ec2_backends[account_id][region]
    image = ec2.amis[image_id]
    image.creation_date = when
    if owner_id is not None:
        image.owner_id = owner_id
        for mapping in image.block_device_mappings:
            snapshot = ec2.snapshots.get(mapping.get("Ebs", {}).get("SnapshotId"))
            if snapshot is not None:
                snapshot.owner_id = owner_id
