"""Static checks of the drill state machine (statemachine/drill.asl.json): whatever fails, the drill cleans up, reports
and ends FAILED; its choices are questions with a deliberate default; its only waits are bounded."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support import ROOT, load_function

DRILL = json.loads((ROOT / "statemachine" / "drill.asl.json").read_text())
ITEM = DRILL["States"]["Drill Each Archive"]["ItemProcessor"]["States"]


def test_every_failure_of_the_drill_is_cleaned_up_reported_and_ends_failed() -> None:
    # Given the drill's top-level Tasks / Then each one's last Catch goes, in this order, through the cleanup and the report
    nexts = {name: s["Catch"][-1]["Next"] for name, s in DRILL["States"].items() if s["Type"] in ("Task", "Map")}
    assert nexts == {
        "Validate Drill": "Notify Drill Report",  # refused before any side effect: nothing to clean up
        "Choose Archives": "Clean Up Drill",
        "Drill Each Archive": "Clean Up Drill",
        "Clean Up Drill": "Record Drill Results",
        "Record Drill Results": "Notify Drill Report",
        "Notify Drill Report": "Drill Report Failed",
    }
    assert DRILL["States"]["Drill Each Archive"]["Next"] == "Clean Up Drill"
    assert (DRILL["States"]["Drill Failed"]["Type"], DRILL["States"]["Drill Report Failed"]["Type"]) == ("Fail", "Fail")
    assert DRILL["States"]["Did The Drill Pass?"]["Default"] == "Drill Failed"
    # A drill that never ends by itself ends at 14 days (TIMED_OUT: DrillEndedRule's sweep still runs)
    assert DRILL["TimeoutSeconds"] == 14 * 24 * 3600


def test_one_archive_never_stops_the_others_and_every_choice_is_a_question() -> None:
    # Given an archive's states / Then every Lambda task is caught into a note of the archive's failure, not the drill's
    for name, state in ITEM.items():
        if state["Type"] == "Task" and state["Resource"].startswith("${"):
            assert state["Catch"][-1]["Next"] in ("Note Archive Failure", "Terminate Drill Instance After Failure"), name
            assert state["TimeoutSeconds"] == 60, name
    # A failed restore is still checked (its AMI, if any, is the drill's to remove)
    assert ITEM["Restore Archive"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.restoreError", "Next": "Check Drill Image"}
    ]
    assert ITEM["Restore Archive"]["Parameters"]["Input"]["restoreRequestDays"] == 1
    choices = {n: s for n, s in {**DRILL["States"], **ITEM}.items() if s["Type"] == "Choice"}
    assert sorted(choices) == ["Are Status Checks Done?", "Did The Drill Pass?", "Should It Boot?"]
    assert all(s["Default"] in {**DRILL["States"], **ITEM} for s in choices.values())


def test_the_boot_check_waits_a_minute_between_looks() -> None:
    # Given the status-check loop / Then it waits 60 s between looks; Check Instance Status ends it at its deadline
    wait: dict[str, Any] = ITEM["Wait For Status Checks"]
    assert (wait["Seconds"], wait["Next"], ITEM["Are Status Checks Done?"]["Default"]) == (
        60,
        "Check Instance Status",
        "Wait For Status Checks",
    )


def test_every_child_name_of_the_largest_drill_is_one_its_checks_recognise() -> None:
    # Given the largest drill (MAX_DRILL_COUNT archives) with an 80-character name / Then each child's name fits Step
    # Functions' 80 characters and is the one Validate Input and Report Ended Execution check a claimed drill against
    choose, single = load_function("choose_archives"), load_function("validate_input")
    count = load_function("validate_drill").MAX_DRILL_COUNT
    parent = f"arn:aws:states:us-east-1:123456789012:execution:Drill-x:{'n' * 80}"
    names = [choose.drill_child_name(parent, index) for index in range(count)]
    assert (count, max(len(name) for name in names), len(set(names))) == (10, 57, 10)
    assert all(re.fullmatch(r"(.*)-(\d{1,3})-([0-9a-f]{8})", name) for name in names)
    report = load_function("report_ended_execution")
    assert [single.drill_child_name(parent, 9), f"drill-{report.child_name(parent, 9)}"] == [names[9]] * 2


def test_the_command_line_refuses_what_validate_drill_refuses() -> None:
    # The command line checks a drill's glob and count before any AWS call, with Validate Drill's limits
    from glacier_ami_restore import drills

    validate = load_function("validate_drill")
    assert (drills.MAX_DRILL_COUNT, drills.MAX_GLOB_LENGTH) == (validate.MAX_DRILL_COUNT, validate.MAX_GLOB_LENGTH) == (10, 128)
    assert sorted(drills.payload("*", "random", 1, "Bulk", False)) == sorted(validate.DRILL_FIELDS[:-1])
