"""Static checks for batches: the batch handlers' figures follow the single-restore handlers' (the copies of one name are
checked by tests/static/test_shared_values.py), and the batch states keep their promises (bounded concurrency, state
data under Step Functions' 256 KB, every task retried, timed out and caught)."""

from __future__ import annotations

import json
from typing import Any

from deploy import template
from tests.support import ROOT, load_function

DEFINITION = json.loads((ROOT / "statemachine" / "definition.asl.json").read_text())
TEMPLATE = template.load()
plan, validate = load_function("plan_batch"), load_function("validate_batch")


def test_planning_figures_agree_with_the_single_restore_handlers() -> None:
    assert {k: latest for k, (_, latest) in load_function("check_restore_status").WINDOWS.items()} == plan.LATEST_RESTORE_SECONDS


def test_the_batch_handlers_agree_with_each_other() -> None:
    assert validate.MAX_BATCH_ITEMS == 10 ** (plan.MAX_INDEX_DIGITS)
    assert validate.STARTED_BY == "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"


def test_the_template_matches_the_handlers_limits() -> None:
    parameters = TEMPLATE["Parameters"]
    assert DEFINITION["TimeoutSeconds"] == plan.EXECUTION_SECONDS
    assert parameters["BatchConcurrency"]["MaxValue"] == plan.MAX_LANES == 40
    policy = TEMPLATE["Resources"]["ArchiveBucketsByTagPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all(f"aws:ResourceTag/{validate.BUCKET_TAG_KEY}" in s["Condition"]["StringEquals"] for s in policy[:2])


def states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every state, nested ones (Map item processors) included."""
    found = []
    for name, state in definition["States"].items():
        found.append((name, state))
        if "ItemProcessor" in state:
            found += states(state["ItemProcessor"])
    return found


def test_the_batch_maps_are_bounded_and_keep_no_results() -> None:
    maps = {name: state for name, state in states(DEFINITION) if state["Type"] == "Map"}
    assert {n: (s["MaxConcurrency"], s["ResultPath"]) for n, s in maps.items()} == {
        "Restore In Rounds": (1, None),  # one round after another
        "Restore Lanes": (0, None),  # a round's lanes at once: Plan Batch makes at most BatchConcurrency (<= 40)
        "Restore Lane": (1, None),  # a lane's AMIs one after another
    }


def test_the_child_task_retries_starts_times_out_and_is_caught() -> None:
    task = dict(states(DEFINITION))["Restore One AMI"]
    assert task["Resource"] == "arn:${Partition}:states:::states:startExecution.sync:2"
    assert task["Parameters"]["StateMachineArn.$"] == "$$.StateMachine.Id"  # this same state machine
    assert "States.TaskFailed" not in {e for r in task["Retry"] for e in r["ErrorEquals"]}  # a failed AMI is not retried
    assert task["TimeoutSeconds"] == DEFINITION["TimeoutSeconds"]
    assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Note The Failure"}]


def test_the_single_restore_states_are_untouched_by_the_batch_path() -> None:
    # The batch path leaves the single one at the first question, before any validation, and joins it again only
    # through Notify Failure
    states = DEFINITION["States"]
    assert (states["Receive Request"]["Next"], states["Validate Input"]["Next"]) == ("Is It A Batch?", "Check Storage Class")
    assert states["Is It A Batch?"]["Choices"] == [{"Variable": "$.input.recoveryPoints", "IsPresent": True, "Next": "Validate Batch"}]
    assert states["Is It A Batch?"]["Default"] == "Validate Input"
    batch = {"Validate Batch", "Is It A Selection?", "Resolve Selection", "Plan Batch", "Restore In Rounds", "Notify Batch Summary",
             "Did Every AMI Restore?"}  # fmt: skip
    targets = {t for name, state in DEFINITION["States"].items() if name in batch for t in _targets(state)}
    assert targets - batch == {"Notify Failure", "Batch Succeeded", "Batch Failed"}


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state.get("Next"), state.get("Default")}
    found |= {c["Next"] for c in [*state.get("Choices", []), *state.get("Catch", [])]}
    return {t for t in found if t}
