"""The largest batch and Step Functions' 256 KiB: every state a batch accepted by Validate Batch passes through stays
under it, and a batch that could not is refused by Validate Batch, before any side effect (Plan Batch, which requests
the restores, comes after). The states are measured as the batch state machine builds them from the handlers' real
results (Validate Batch, then Plan Batch against a stand-in for S3 whose every object is archived in Flexible
Retrieval), at up to 1,000 AMIs with every field at its longest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import load_function

STATE_LIMIT = 256 * 1024  # Step Functions: a state's input or output, and a task's parameters (UTF-8 bytes)
BUCKET = "b" * 63  # the longest bucket name S3 allows
AMI_NAME = "n" * 101  # the longest amiName (128 characters less the 27 Restore Image appends)
BATCH = "arn:aws:states:us-east-1:123456789012:execution:BatchRestore-3f1c9a52-5b7e-4c1d-9e8a-2b6d0f4c7a91:" + "d" * 80
validate, plan = load_function("validate_batch"), load_function("plan_batch")


class ArchivedObjects:
    """S3 as Plan Batch asks it, every object there, 8 GB in Flexible Retrieval, not restored; restores accepted."""

    def head_bucket(self, Bucket: str) -> dict[str, Any]:
        return {}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"ContentLength": 8 * 10**9, "StorageClass": "GLACIER"}

    def get_bucket_notification_configuration(self, Bucket: str) -> dict[str, Any]:
        return {"EventBridgeConfiguration": {}}

    def restore_object(self, **request: Any) -> dict[str, Any]:
        return {"ResponseMetadata": {"HTTPStatusCode": 202}}


def size(state: Any) -> int:
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())


def batch(key_bytes: int, count: int = 1000, shape: str = "overrides") -> dict[str, Any]:
    """`count` AMIs with keys of `key_bytes` bytes (a path, then the AMI), every shared field at its longest; each item
    either with every field of its own at its longest too ("overrides") or a bare key ("keys": the shared fields then
    reach each child's input, so the states grow more than the input)."""
    items: list[Any] = []
    for n in range(count):
        ami = f"ami-{n:017x}.bin"
        key = f"{'p' * (key_bytes - len(ami) - 1)}/{ami}"
        own = {"recoveryPointBucket": BUCKET, "restoreRequestDays": 29, "restoreRequestTier": "Expedited", "amiName": AMI_NAME}
        items.append({"recoveryPoint": key, **own} if shape == "overrides" else key)
    return {
        "recoveryPoints": items,
        "recoveryPointBucket": BUCKET,
        "restoreRequestDays": 30,
        "restoreRequestTier": "Bulk",
        "amiName": AMI_NAME,
    }


def problems_of(payload: dict[str, Any]) -> list[str]:
    """What Validate Batch's handler refuses in the batch: its rules, then the size of the states it would make."""
    request, problems = validate.validate_batch(payload, "*")
    if not problems and (problem := validate.state_problem(request)) is not None:
        problems.append(problem)
    return list(problems)


def longest_key(shape: str, accepted: Any) -> int:
    """The longest keys for which 1,000 such AMIs are `accepted` (0: none are)."""
    low, high = 25, 1024
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if accepted(batch(middle, shape=shape)) else (low, middle - 1)
    return low if low > 25 or accepted(batch(26, shape=shape)) else 0


def fits_start_execution(payload: dict[str, Any]) -> bool:
    return size(payload) <= STATE_LIMIT


def test_the_largest_batch_with_every_field_at_its_longest_is_refused_by_step_functions_itself() -> None:
    # Given 1,000 AMIs each with every field of its own at its longest, and the shortest AMI keys (ami-<17 hex>.bin)
    payload = batch(26)
    payload["recoveryPoints"] = [{**i, "recoveryPoint": i["recoveryPoint"].lstrip("/")} for i in payload["recoveryPoints"]]
    # Then its input is over the 256 KiB StartExecution takes (tests/emulator/test_execution_limits.py: refused,
    # ValidationException, no execution, no side effect)
    assert size(payload) > STATE_LIMIT


def most_amis(key_bytes: int, shape: str) -> int:
    """The most AMIs with keys of `key_bytes` bytes that StartExecution and Validate Batch both accept (at most 1,000)."""
    low, high = 1, 1000
    while low < high:
        middle = (low + high + 1) // 2
        payload = batch(key_bytes, middle, shape)
        low, high = (middle, high) if fits_start_execution(payload) and not problems_of(payload) else (low, middle - 1)
    return low


@pytest.mark.parametrize(("shape", "key_bytes"), [("overrides", 27), ("keys", 200)])
def test_every_state_of_the_largest_batch_validate_batch_accepts_stays_under_256_kib(shape: str, key_bytes: int) -> None:
    # Given the most AMIs that StartExecution and Validate Batch accept, every field but the key at its longest, all in S3
    count = most_amis(key_bytes, shape)
    payload = batch(key_bytes, count, shape)
    # When the batch state machine's states are built from the handlers' results
    assert problems_of(payload) == []
    request, _ = validate.validate_batch(payload, "*")
    request = {**request, "executionName": BATCH.rsplit(":", 1)[1], "startTime": "2026-01-05T09:00:00+00:00"}
    after_validate = {"request": request}
    planned = plan.plan_batch(ArchivedObjects(), request, 600.0, 40, BATCH, datetime(2026, 1, 5, 9, tzinfo=UTC))
    after_plan = {"request": planned}
    iteration = {"item": planned["items"][-1], "startedBy": {validate.STARTED_BY: BATCH}}
    # (each AMI's outcome at its longest: a child that could not start, its key and bucket noted)
    outcome = {"name": planned["items"][-1]["name"], "status": "FAILED", "error": "StepFunctions.ExecutionAlreadyExistsException",
               "recoveryPoint": planned["items"][-1]["input"]["recoveryPoint"], "recoveryPointBucket": BUCKET}  # fmt: skip
    after_map = {"request": {**planned, "items": [outcome] * count}}
    summary_parameters = {"executionId": BATCH, "startTime": "2026-01-05T09:00:00.000Z", "request": after_map["request"]}
    failure_parameters = {
        "executionId": BATCH,
        "progress": {**after_plan, "failed": {"PlanBatch": {"Error": "X" * 100, "Cause": "c" * 4000}}},
    }
    # Then each is under Step Functions' 256 KiB
    sizes = {
        "after Validate Batch": size(after_validate),
        "after Plan Batch": size(after_plan),
        "a Map iteration": size(iteration),
        "after Restore Each AMI": size(after_map),
        "Notify Batch Summary's parameters": size(summary_parameters),
        "Notify Failure's parameters": size(failure_parameters),
    }
    assert {name: n < STATE_LIMIT for name, n in sizes.items()} == dict.fromkeys(sizes, True), (count, sizes)


@pytest.mark.parametrize(("shape", "key_bytes"), [("overrides", 27), ("keys", 27), ("keys", 200)])
def test_a_batch_whose_states_would_pass_256_kib_is_refused_by_validate_batch_saying_how_to_split(shape: str, key_bytes: int) -> None:
    # Given one AMI more than Validate Batch accepts (StartExecution takes it, but a state could pass 256 KiB)
    count = most_amis(key_bytes, shape) + 1
    assert fits_start_execution(batch(key_bytes, count, shape))
    # When validated / Then refused, saying how many AMIs a batch of these may hold
    (problem,) = problems_of(batch(key_bytes, count, shape))
    fits = int(problem.rsplit(" ", 2)[-2].replace(",", ""))
    assert problem.startswith(f"recoveryPoints: {count:,} AMIs with these keys would make a state of about ")
    assert problem.endswith(f" KiB, over the 256 KiB Step Functions allows: split the batch into batches of at most {fits:,} AMIs")
    assert (fits < count, problems_of(batch(key_bytes, fits, shape))) == (True, [])


def test_the_issues_thousand_amis_named_45_characters_are_refused_before_any_restore_saying_how_to_split() -> None:
    # Given 1,000 AMIs of the usual keys in one bucket, each with its own amiName of 45 characters (the batch that once
    # reached 257-269 KiB after Plan Batch, its restores already requested)
    def named(count: int) -> dict[str, Any]:
        items = [
            {"recoveryPoint": f"ami-{n:017x}.bin", "amiName": f"{'web-server-production-eu-west-1-replica':<41}{n:04d}"}
            for n in range(count)
        ]
        return {"recoveryPoints": items, "recoveryPointBucket": "my-ami-archive"}

    # Then Validate Batch refuses it, before Plan Batch requests anything, saying how many such AMIs a batch may hold
    assert problems_of(named(1000)) == [
        "recoveryPoints: 1,000 AMIs with these keys would make a state of about 384 KiB, over the 256 KiB Step Functions allows: "
        "split the batch into batches of at most 645 AMIs"
    ]
    assert problems_of(named(645)) == []
