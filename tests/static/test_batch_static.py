"""Static checks for batches: the copies inline packaging forces agree, and the batch states keep their promises
(bounded concurrency, state data under Step Functions' 256 KB, every task retried, timed out and caught)."""

from __future__ import annotations

import json
from typing import Any

from deploy import template
from glacier_ami_restore import archive
from tests.conftest import ROOT, load_function

DEFINITION = json.loads((ROOT / "statemachine" / "definition.asl.json").read_text())
TEMPLATE = template.load()
plan, resolve, validate, notify = (load_function(n) for n in ("plan_batch", "resolve_selection", "validate_input", "notify"))


def test_planning_figures_agree_with_the_single_restore_handlers() -> None:
    image, extend, storage = load_function("check_image_state"), load_function("extend_copy"), load_function("check_storage_class")
    for name in ("IMAGE_STARTUP_SECONDS", "IMAGE_PLANNED_BYTES_PER_SECOND"):
        assert getattr(plan, name) == getattr(image, name) == getattr(extend, name), name
    assert {k: latest for k, (_, latest) in load_function("check_restore_status").WINDOWS.items()} == plan.LATEST_RESTORE_SECONDS
    for name in ("ARCHIVED_CLASSES", "ARCHIVE_TIERS", "THROTTLING_CODES"):
        assert getattr(plan, name) == getattr(storage, name), name
    assert resolve.THROTTLING_CODES == storage.THROTTLING_CODES


def test_the_batch_handlers_agree_with_each_other_and_the_command_line() -> None:
    assert (resolve.NAME_TAGS, resolve.DATE_TAGS) == (archive.NAME_TAGS, archive.DATE_TAGS)
    assert resolve.MAX_BATCH_ITEMS == validate.MAX_BATCH_ITEMS == 10 ** (plan.MAX_INDEX_DIGITS)
    assert (resolve.DEFAULT_DAYS, resolve.DEFAULT_TIER) == (validate.DEFAULT_DAYS, validate.DEFAULT_TIER)
    assert validate.STARTED_BY == notify.STARTED_BY == "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"


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
    assert task["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert task["Parameters"]["StateMachineArn.$"] == "$$.StateMachine.Id"  # this same state machine
    assert "States.TaskFailed" not in {e for r in task["Retry"] for e in r["ErrorEquals"]}  # a failed AMI is not retried
    assert task["TimeoutSeconds"] == DEFINITION["TimeoutSeconds"]
    assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Note The Failure"}]


def test_the_single_restore_states_are_untouched_by_the_batch_path() -> None:
    # The batch path joins the single one only after Validate Input, and leaves it through Notify Failure
    assert DEFINITION["States"]["Validate Input"]["Next"] == "Is It A Batch?"
    assert DEFINITION["States"]["Is It A Batch?"]["Default"] == "Check Storage Class"
    batch = {"Is It A Selection?", "Resolve Selection", "Plan Batch", "Restore In Rounds", "Notify Batch Summary", "Did Every AMI Restore?"}
    targets = {t for name, state in DEFINITION["States"].items() if name in batch for t in _targets(state)}
    assert targets - batch == {"Notify Failure", "Batch Succeeded", "Batch Failed"}


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state.get("Next"), state.get("Default")}
    found |= {c["Next"] for c in [*state.get("Choices", []), *state.get("Catch", [])]}
    return {t for t in found if t}
