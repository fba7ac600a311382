"""Wait For Image Budget and Release Image Budget: the stack's GB budget for image restores, first come first served,
on the emulator's DynamoDB, with stand-ins for Step Functions (each wake-up recorded, ended executions named) and for
EC2 (the images still being restored, by execution)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.facade import Emulator
from tests.support import load_function

GB = 10**9
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TABLE = "image-budget"
BUDGET = 600 * GB
wait, release = load_function("wait_for_image_budget"), load_function("release_image_budget")


class TaskTokens:
    """Step Functions as the budget uses it: SendTaskSuccess records (token, output), a token named in `closed` has
    timed out; DescribeExecution answers RUNNING but for the executions named in `ended`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.closed: set[str] = set()
        self.ended: set[str] = set()

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"executionArn": executionArn, "status": "ABORTED" if executionArn in self.ended else "RUNNING"}

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:
        if taskToken in self.closed:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "timed out"}}, "SendTaskSuccess")
        self.sent.append((taskToken, json.loads(output)))
        return {}


class PendingImages:
    """DescribeImages as the budget asks it (Owners self, the execution's tag, state pending): `pending` maps an
    execution to the AMI EC2 still makes for it."""

    def __init__(self) -> None:
        self.pending: dict[str, str] = {}

    def describe_images(self, Owners: list[str], Filters: list[dict[str, Any]]) -> dict[str, Any]:
        wanted = {f["Name"]: f["Values"] for f in Filters}
        assert (Owners, wanted["state"]) == (["self"], ["pending"])
        (execution,) = wanted["tag:glacier-ami-restore:execution"]
        return {"Images": [{"ImageId": self.pending[execution], "State": "pending"}] if execution in self.pending else []}


@pytest.fixture
def budget(aws: Emulator) -> Any:
    """The ImageBudgetTable of template.yaml (its key schema), empty."""
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
    )
    return {"dynamodb": dynamodb, "ec2": PendingImages()}


def arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:{name}"


def ask(clients: Any, tokens: TaskTokens, name: str, size_gb: int, *, token: str | None = None, at: datetime = NOW) -> str:
    """Restore `name` reaches Wait For Image Budget for `size_gb` (its wait's token: `token`, else the name)."""
    event = {"token": token or name, "execution": arn(name), "sizeBytes": size_gb * GB}
    outcome: str = wait.wait_for_image_budget({**clients, "sfn": tokens}, TABLE, BUDGET, event, at)
    return outcome


def done(clients: Any, tokens: TaskTokens, name: str, at: datetime = NOW, status: str = "SUCCEEDED") -> dict[str, Any]:
    """Restore `name` ends `status` (SUCCEEDED: its image is available): Release Image Budget, on the end event."""
    event = {"detail-type": "Step Functions Execution Status Change", "detail": {"executionArn": arn(name), "status": status}}
    result: dict[str, Any] = release.release_image_budget({**clients, "sfn": tokens}, TABLE, BUDGET, event, at)
    return result


def test_first_come_first_served_and_nobody_overtakes_the_head(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 400 GB in flight, then 300 GB and, a second later, 100 GB asking (the 100 GB would fit, but came after)
    asked = [ask(budget, tokens, "a", 400), ask(budget, tokens, "b", 300), ask(budget, tokens, "c", 100, at=NOW + timedelta(seconds=1))]
    assert asked == ["admitted", "waiting", "waiting"]
    assert tokens.sent == [("a", {"admitted": True, "heldBy": "queue"})]
    # When the 400 GB are released
    released = done(budget, tokens, "a")
    # Then both waiting restores fit (300 + 100 GB) and are woken in their order, within this one call
    assert released == {"execution": arn("a"), "released": 400 * GB, "admitted": [arn("b"), arn("c")]}
    assert [token for token, _ in tokens.sent] == ["a", "b", "c"]


def test_of_restores_that_came_in_the_same_second_the_smallest_goes_first(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 600 GB in flight, then 300 GB, 100 GB and 200 GB asking within the same second
    ask(budget, tokens, "a", 600)
    assert [ask(budget, tokens, name, size) for name, size in (("b", 300), ("c", 100), ("d", 200))] == ["waiting"] * 3
    # When the 600 GB are released / Then they are admitted smallest first (all three fit)
    assert done(budget, tokens, "a")["admitted"] == [arn("c"), arn("d"), arn("b")]


def test_an_ami_larger_than_the_budget_runs_alone_and_does_not_starve(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 100 GB in flight, then a 900 GB AMI (over the 600 GB budget) and, a second later, a 50 GB one behind it
    asked = [ask(budget, tokens, "a", 100), ask(budget, tokens, "big", 900), ask(budget, tokens, "c", 50, at=NOW + timedelta(seconds=1))]
    assert asked == ["admitted", "waiting", "waiting"]
    # When the 100 GB are released / Then the 900 GB runs, alone: the 50 GB waits behind it
    assert done(budget, tokens, "a")["admitted"] == [arn("big")]
    # And when the 900 GB are released, the 50 GB runs
    assert done(budget, tokens, "big")["admitted"] == [arn("c")]
    assert [token for token, _ in tokens.sent] == ["a", "big", "c"]


def test_a_wait_that_timed_out_looks_again_keeps_its_place_and_is_woken_by_its_new_token(budget: Any) -> None:
    tokens = TaskTokens()
    ask(budget, tokens, "a", 600)
    ask(budget, tokens, "b", 100, token="b-1")
    ask(budget, tokens, "c", 100, token="c-1")
    # When b's wait times out after 2 h and it looks again with a new token
    tokens.closed.add("b-1")
    assert ask(budget, tokens, "b", 100, token="b-2", at=NOW + timedelta(hours=2)) == "waiting"
    # Then the release wakes b (its new token) before c: b kept its place
    assert done(budget, tokens, "a", NOW + timedelta(hours=3))["admitted"] == [arn("b"), arn("c")]
    assert [token for token, _ in tokens.sent] == ["a", "b-2", "c-1"]


def test_a_restore_admitted_while_its_wait_was_closed_finds_its_lease_at_its_next_look(budget: Any) -> None:
    tokens = TaskTokens()
    ask(budget, tokens, "a", 600)
    ask(budget, tokens, "b", 100, token="b-1")
    tokens.closed.add("b-1")  # b's wait timed out; its next look has not come yet
    # When a's GB are released: b is admitted, but its wake goes to the closed wait
    assert done(budget, tokens, "a")["admitted"] == [arn("b")]
    # Then b's next look (through Extend Copy) finds its lease and goes on at once
    assert ask(budget, tokens, "b", 100, token="b-2", at=NOW + timedelta(hours=2)) == "held"
    assert tokens.sent[-1] == ("b-2", {"admitted": True, "heldBy": "lease"})


def test_a_release_twice_and_a_release_of_a_waiting_execution_change_nothing_but_its_ticket(budget: Any) -> None:
    tokens = TaskTokens()
    ask(budget, tokens, "a", 600)
    ask(budget, tokens, "b", 100)
    ask(budget, tokens, "c", 100)
    # When b's execution ends while it waits (stopped by hand: the rule on ended executions releases it)
    assert done(budget, tokens, "b") == {"execution": arn("b"), "released": 0, "admitted": []}
    # Then a's release admits c only; a second release of a changes nothing
    assert done(budget, tokens, "a")["admitted"] == [arn("c")]
    assert done(budget, tokens, "a") == {"execution": arn("a"), "released": 0, "admitted": []}
    assert [token for token, _ in tokens.sent] == ["a", "c"]


def test_a_lease_never_released_stops_counting_at_its_expiry(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 600 GB leased by a restore that vanished: its lease lasts the day of quota waits and its image deadline
    # (2 x (10 min + 600 GB at 50 MB/s) = 7 h, at least a day): 2 days
    ask(budget, tokens, "gone", 600)
    assert wait.lease_seconds(600 * GB) == 2 * 86400
    # Then a restore asking a second before that waits; one asking at the expiry is admitted
    assert ask(budget, tokens, "b", 100, at=NOW + timedelta(days=2, seconds=-1)) == "waiting"
    assert ask(budget, tokens, "b", 100, at=NOW + timedelta(days=2)) == "admitted"


def test_a_restore_that_ended_without_its_event_gives_its_gb_back_at_a_waiters_next_look(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 600 GB held by a restore stopped by hand whose end event never reached the stack, and one waiting
    ask(budget, tokens, "stopped", 600)
    ask(budget, tokens, "b", 100, token="b-1")
    tokens.ended.add(arn("stopped"))
    tokens.closed.add("b-1")
    # When b's wait times out and it looks again / Then Step Functions says the holder ended: its lease goes, b runs
    assert ask(budget, tokens, "b", 100, token="b-2", at=NOW + timedelta(hours=2)) == "admitted"
    assert tokens.sent[-1] == ("b-2", {"admitted": True, "heldBy": "queue"})


def test_a_waiting_restore_that_ended_is_passed_over_when_its_turn_comes(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 600 GB in flight, then b and c waiting; b is stopped by hand and its end event is lost
    ask(budget, tokens, "a", 600)
    ask(budget, tokens, "b", 500)
    ask(budget, tokens, "c", 500)
    tokens.ended.add(arn("b"))
    tokens.closed.add("b")
    # When a's GB are released / Then b's turn finds it ended: its GB go at once to c
    assert done(budget, tokens, "a")["admitted"] == [arn("c")]
    assert [token for token, _ in tokens.sent] == ["a", "c"]


def test_a_restore_stopped_while_ec2_makes_its_image_keeps_its_gb_until_the_image_settles(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 600 GB held by a restore whose image EC2 is making, and one waiting
    ask(budget, tokens, "stopped", 600)
    ask(budget, tokens, "b", 100)
    budget["ec2"].pending[arn("stopped")] = "ami-0aaaaaaaaaaaaaaaa"
    # When the first is stopped by hand / Then its GB stay held: EC2 counts them against its quota until the image settles
    assert done(budget, tokens, "stopped", status="ABORTED") == {"execution": arn("stopped"), "released": 0, "admitted": []}
    # When EC2's AMI State Change says the image is available / Then the GB come back, and b runs
    event = {"detail-type": "EC2 AMI State Change", "detail": {"ImageId": "ami-0aaaaaaaaaaaaaaaa", "State": "available"}}
    result = release.release_image_budget({**budget, "sfn": tokens}, TABLE, BUDGET, event, NOW + timedelta(hours=1))
    assert result == {"image": "ami-0aaaaaaaaaaaaaaaa", "released": [arn("stopped")], "admitted": [arn("b")]}


def test_a_place_in_the_queue_has_a_deadline_from_the_gb_ahead_of_it(budget: Any) -> None:
    tokens = TaskTokens()
    # Given 600 GB in flight, and 100 GB asking: 700 GB at the slowest rate planned (20 MB/s) = 35,000 s, and a day
    ask(budget, tokens, "a", 600)
    ask(budget, tokens, "b", 100)
    deadline = NOW + timedelta(seconds=35_000 + 86_400)
    # Then its looks until then wait; its look at the deadline fails it, and its ticket is gone
    assert ask(budget, tokens, "b", 100, token="b-2", at=deadline - timedelta(seconds=1)) == "waiting"
    with pytest.raises(wait.ImageBudgetDeadlineExceededError) as failed:
        ask(budget, tokens, "b", 100, token="b-3", at=deadline)
    assert str(failed.value) == (
        "waited for 100.0 GB of the stack's image-restore budget (600 GB) until 2026-01-06T18:43:20+00:00, longer than the "
        "restores ahead of it should take at the slowest rate planned"
    )
    assert done(budget, tokens, "a")["admitted"] == []


def test_without_its_table_a_restore_goes_on_unbudgeted(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no budget table (deleted, or DynamoDB failing) / When a restore asks for GB
    tokens = TaskTokens()
    monkeypatch.setattr(wait, "sfn", tokens)
    monkeypatch.setattr(wait, "ec2", PendingImages())
    monkeypatch.setenv("IMAGE_BUDGET_TABLE", "no-such-table")
    monkeypatch.setenv("IMAGE_RESTORE_QUOTA_GB", "600")
    outcome = wait.lambda_handler({"token": "t", "execution": arn("a"), "sizeBytes": 100 * GB}, None)
    # Then its wait ends at once, saying why; Restore Image still handles EC2's own refusal over the quota
    assert outcome == {"outcome": "unbudgeted"}
    assert tokens.sent == [("t", {"admitted": False, "reason": "the budget's table answered GetItem: ResourceNotFoundException"})]
    # And a release without its table fails nothing either
    monkeypatch.setattr(release, "sfn", tokens)
    monkeypatch.setattr(release, "ec2", PendingImages())
    monkeypatch.setenv("IMAGE_BUDGET_TABLE", "no-such-table")
    assert release.lambda_handler({"detail": {"executionArn": arn("a"), "status": "SUCCEEDED"}}, None) == {
        "execution": arn("a"), "released": 0, "admitted": [], "error": "ResourceNotFoundException"}  # fmt: skip
