"""Static checks for batches: the batch handlers' figures follow the single-restore handlers' (the copies of one name are
checked by tests/static/test_shared_values.py), and the batch state machine keeps its promises (bounded concurrency,
outcomes from each child's own task, every task retried, timed out and caught)."""

from __future__ import annotations

import json
import re
from typing import Any

from deploy import template
from tests.support import ROOT, load_function

DEFINITION = json.loads((ROOT / "statemachine" / "definition.asl.json").read_text())
BATCH = json.loads((ROOT / "statemachine" / "batch.asl.json").read_text())
TEMPLATE = template.load()
plan, validate = load_function("plan_batch"), load_function("validate_batch")


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, nested ones (Map item processors) included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        if "ItemProcessor" in state:
            found |= states(state["ItemProcessor"])
    return found


def test_every_child_name_of_the_largest_batch_is_one_its_checks_recognise() -> None:
    # Given the largest batch (1,000 AMIs) with an 80-character name / Then each child's name fits Step Functions' 80
    # characters and is the one Validate Input and Report Ended Execution check a claimed parent against
    parent = f"arn:aws:states:us-east-1:123456789012:execution:BatchRestore-x:{'n' * 80}"
    names = [plan.child_name(parent, index) for index in range(validate.MAX_BATCH_ITEMS)]
    assert validate.MAX_BATCH_ITEMS == load_function("resolve_selection").MAX_BATCH_ITEMS == 1000
    assert max(len(name) for name in names) == 53 and len(set(names)) == 1000
    single, report = load_function("validate_input"), load_function("report_ended_execution")
    assert all(re.fullmatch(r"(.*)-(\d{1,3})-([0-9a-f]{8})", name) for name in names)
    assert [single.child_name(parent, 999), report.child_name(parent, 999)] == [names[999]] * 2


def test_the_template_matches_the_handlers_limits() -> None:
    parameters = TEMPLATE["Parameters"]
    assert BATCH["TimeoutSeconds"] == DEFINITION["TimeoutSeconds"] == plan.EXECUTION_SECONDS
    # Step Functions: an inline Map runs at most 40 iterations at once
    assert (parameters["BatchConcurrency"]["MaxValue"], parameters["BatchConcurrency"]["Default"]) == (40, 40)
    policy = TEMPLATE["Resources"]["ArchiveBucketsByTagPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all(f"aws:ResourceTag/{validate.BUCKET_TAG_KEY}" in s["Condition"]["StringEquals"] for s in policy[:2])


def test_the_map_runs_the_planned_items_up_to_the_concurrency_and_keeps_only_their_outcomes() -> None:
    (name, each), = [(n, s) for n, s in states(BATCH).items() if s["Type"] == "Map"]  # fmt: skip
    assert name == "Restore Each AMI"
    assert (each["ItemsPath"], each["MaxConcurrencyPath"], each["ResultPath"]) == (
        "$.request.items",
        "$.request.concurrency",
        "$.request.items",
    )
    assert each["ItemProcessor"]["StartAt"] == "Wait For Copy"
    # A copy wait never fails the AMI: its end, whatever it is, starts the child (which follows the restore itself)
    wait = states(BATCH)["Wait For Copy"]
    assert (wait["Next"], [(c["ErrorEquals"], c["Next"]) for c in wait["Catch"]]) == (
        "Restore One AMI",
        [(["States.ALL"], "Restore One AMI")],
    )


def test_the_child_task_starts_the_restore_state_machine_by_its_own_name_and_keeps_the_tasks_facts() -> None:
    task = states(BATCH)["Restore One AMI"]
    assert task["Resource"] == "arn:${Partition}:states:::states:startExecution.sync:2"
    assert (task["Parameters"]["StateMachineArn"], task["Parameters"]["Name.$"]) == ("${RestoreStateMachineArn}", "$.item.name")
    # The outcome is what the task returned of the execution it ran, never a lookup by name
    assert task["ResultSelector"] == {"name.$": "$.Name", "status.$": "$.Status", "imageId.$": "$.Output.imageId"}
    assert "States.TaskFailed" not in {e for r in task["Retry"] for e in r["ErrorEquals"]}  # a failed AMI is not retried
    assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Note The Failure"}]
    assert states(BATCH)["Note The Failure"]["Parameters"]["name.$"] == "$.item.name"


def test_the_single_restore_hands_a_batch_over_before_any_validation() -> None:
    found = states(DEFINITION)
    assert DEFINITION["StartAt"] == "Is It A Batch?"
    assert found["Is It A Batch?"]["Choices"] == [{"Variable": "$.recoveryPoints", "IsPresent": True, "Next": "Restore As A Batch"}]
    assert found["Is It A Batch?"]["Default"] == "Validate Input"
    handed = found["Restore As A Batch"]
    # The batch runs under this execution's name, and reads the batch from this execution's input (never copied)
    assert handed["Resource"] == "arn:${Partition}:states:::states:startExecution.sync:2"
    assert handed["Parameters"] == {
        "StateMachineArn": "${BatchRestoreStateMachineArn}",
        "Name.$": "$$.Execution.Name",
        "Input": {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"},
    }
    assert (handed.get("End"), [c["Next"] for c in handed["Catch"]]) == (True, ["Read The Batch Outcome", "Note The Batch Refusal"])
    # A failed batch's own error and cause end this execution too (the task's Cause is the batch's description)
    assert found["Read The Batch Outcome"]["Parameters"] == {"batch.$": "States.StringToJson($.batch.Cause)"}
    failed = found["Batch Restore Failed"]
    assert (failed["Type"], failed["ErrorPath"], failed["CausePath"]) == ("Fail", "$.batch.Error", "$.batch.Cause")
