"""Static checks: the template and the state machine are valid, consistent with each other, and well-formed."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Any

import pytest

from deploy import template
from tests.support import ROOT

BIN = Path(sys.executable).parent
TEMPLATE = template.load()
# Each state machine's logical ID, its definition file and its substitutions (one name in four places: the file is the
# DefinitionUri of the resource)
MACHINES = {
    lid: TEMPLATE["Resources"][lid]["Properties"]
    for lid in ("RestoreStateMachine", "BatchRestoreStateMachine", "ArchiveStateMachine", "DrillStateMachine")
}
FILES = {lid: props["DefinitionUri"] for lid, props in MACHINES.items()}
DEFINITIONS = {lid: json.loads((ROOT / path).read_text()) for lid, path in FILES.items()}
DEFINITION, BATCH = DEFINITIONS["RestoreStateMachine"], DEFINITIONS["BatchRestoreStateMachine"]
FUNCTIONS = {lid: r["Properties"] for lid, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
SUBSTITUTIONS = MACHINES["RestoreStateMachine"]["DefinitionSubstitutions"]


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition, a Map's own states included (state names are unique across a definition)."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        if "ItemProcessor" in state:
            found |= states(state["ItemProcessor"])
    return found


ALL = {(lid, name): state for lid, definition in DEFINITIONS.items() for name, state in states(definition).items()}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, env={"PATH": str(BIN), "SAM_CLI_TELEMETRY": "0", "HOME": str(ROOT / ".venv")}
    )


def test_packaged_template_is_deterministic() -> None:
    # (make lint, which .ci/run runs before make test, runs cfn-lint on template.yaml and on the packaged template,
    # warnings included, and sam validate --lint on template.yaml)
    first = run(sys.executable, "-m", "deploy.package").stdout
    second = run(sys.executable, "-m", "deploy.package").stdout
    assert first == second and json.loads(first)["Resources"]["ValidateInputFunction"]["Properties"]["InlineCode"].startswith("from ")


# CloudFormation quotas: a template body passed in a CreateStack/UpdateStack/ValidateTemplate request, and one read from
# an S3 object (AWS CloudFormation User Guide, "AWS CloudFormation quotas").
TEMPLATE_BODY_LIMIT, TEMPLATE_S3_LIMIT = 51_200, 460_800


def test_the_template_reads_as_cfn_lint_reads_it(tmp_path: Path) -> None:
    # Given template.yaml, and a template with every short form in each YAML shape
    from cfnlint.decode import cfn_yaml  # imported here: the emulator and the packager no longer import cfn-lint

    forms = tmp_path / "forms.yaml"
    forms.write_text(
        "Conditions:\n  A: !Equals [!Ref P, '']\n  B: !Not [!Condition A]\n"
        "Resources:\n  R:\n    Properties:\n      X: !GetAtt Q.Arn\n      Y: !GetAtt [Q, Arn]\n"
        "      Z: !Sub ['${a}', {a: !Select [0, !Split [',', !Ref P]]}]\n      W: !If [A, !Ref AWS::NoValue, !Join ['', [x]]]\n"
    )
    for path in (ROOT / "template.yaml", forms):
        # When both read it, Then the trees are the same
        assert template.load(path) == json.loads(json.dumps(cfn_yaml.load(str(path))))
    assert template.load(forms)["Resources"]["R"]["Properties"]["X"] == {"Fn::GetAtt": ["Q", "Arn"]}


# Room the packaged template keeps under TEMPLATE_S3_LIMIT for what is still to come: 411 KB (compact JSON) with the
# archive side and the drills; each side of the product so far took 30 to 60 KB. A side that does not fit is a nested
# stack of its own.
TEMPLATE_MARGIN = 40_000


def without_docstrings(tree: ast.Module) -> str:
    """The syntax tree Python compiles, less every docstring (a body left empty holds `pass`), without positions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def test_each_function_is_inlined_as_its_file_without_comments_and_docstrings() -> None:
    # Given the packaged template's functions and their files
    packaged = template.inline(template.load())["Resources"]
    for lid, props in FUNCTIONS.items():
        source = template.function_source(props["CodeUri"]).read_text()
        inlined = packaged[lid]["Properties"]["InlineCode"]
        # Then Python compiles the same code from both: the same tree, less the docstrings; no comment is left, and the
        # inline copy is smaller
        assert ast.dump(ast.parse(inlined)) == without_docstrings(ast.parse(source)), lid
        assert not [t for t in tokenize.generate_tokens(io.StringIO(inlined).readline) if t.type == tokenize.COMMENT], lid
        assert len(inlined) < len(source), lid


def test_stripping_keeps_strings_and_their_blank_lines_and_fills_an_emptied_body() -> None:
    # Given code with a "#" inside strings, a multi-line string with a blank line, and a class holding only a docstring
    source = (
        '"""Module."""\n\nimport os  # why\n\n\nclass Refused(Exception):\n    """Only a docstring."""\n\n\n'
        'def f(x: int) -> str:\n    """Doc\n\n    more."""\n    # a comment line\n    text = """a # not a comment\n\nb"""\n'
        '    return f"{x}#{text}"  # end\n'
    )
    # When it is stripped / Then exactly the comments, docstrings and blank lines outside strings go
    assert template.strip_comments(source) == (
        "import os\nclass Refused(Exception):\n    pass\ndef f(x: int) -> str:\n"
        '    text = """a # not a comment\n\nb"""\n    return f"{x}#{text}"\n'
    )


def test_readme_says_what_the_packaged_template_needs_to_deploy() -> None:
    # Given the packaged template's size (the README names no figure: `make package` prints it)
    size = len(run(sys.executable, "-m", "deploy.package").stdout.encode())
    # Then it keeps its margin under what CloudFormation reads from S3
    assert size <= TEMPLATE_S3_LIMIT - TEMPLATE_MARGIN, f"{size:,} bytes: {TEMPLATE_S3_LIMIT - size:,} left under the S3 limit"
    deploy = " ".join((ROOT / "README.md").read_text().split("## Deploy", 1)[1].split("\n## ", 1)[0].split())
    # Then it fits what CloudFormation reads from S3, and the README's way to deploy it holds for its size
    assert size < TEMPLATE_S3_LIMIT
    if size > TEMPLATE_BODY_LIMIT:  # too big for a request: the README must say it goes through S3, and how
        assert "over the 51,200 bytes" in deploy and "does **not** deploy from the file alone" in deploy
        assert "--s3-bucket" in deploy and "resolve_s3 = true" in deploy
        assert "resolve_s3 = true" in (ROOT / "samconfig.toml").read_text()
    else:  # small enough: then the README may (and should) say it needs no bucket
        assert "without an artifact bucket" in deploy


def test_the_state_machines_are_the_definition_files() -> None:
    assert FILES == {
        "RestoreStateMachine": "statemachine/definition.asl.json", "BatchRestoreStateMachine": "statemachine/batch.asl.json",
        "ArchiveStateMachine": "statemachine/archive.asl.json", "DrillStateMachine": "statemachine/drill.asl.json",
    }  # fmt: skip
    assert sorted(p.name for p in (ROOT / "statemachine").iterdir()) == [
        "archive.asl.json", "batch.asl.json", "definition.asl.json", "drill.asl.json"
    ]  # fmt: skip


@pytest.mark.parametrize("path", FILES.values())
def test_statelint_accepts_the_definition(path: str) -> None:
    result = run(str(BIN / "statelint"), "--ignore=URI", path)
    assert (result.returncode, result.stdout.strip()) == (0, "")
    assert f"statelint --ignore=URI {path}" in (ROOT / "Makefile").read_text()  # make lint checks it too


@pytest.mark.parametrize("lid", FILES)
def test_every_placeholder_is_substituted_and_every_substitution_used(lid: str) -> None:
    text = (ROOT / FILES[lid]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(MACHINES[lid]["DefinitionSubstitutions"])


@pytest.mark.parametrize(
    ("lid", "integrations"),
    [("RestoreStateMachine", 4), ("BatchRestoreStateMachine", 2), ("ArchiveStateMachine", 2), ("DrillStateMachine", 1)],
)
def test_the_definition_takes_its_partition_from_the_template(lid: str, integrations: int) -> None:
    # Given the service integrations (arn:<partition>:states:::...): the three callback waits and the batch's start
    # (restore), the copy wait and the child's start (batch) / Then none names a partition: the template's does
    text = (ROOT / FILES[lid]).read_text()
    assert re.findall(r'"arn:[^:"]*:', text) == ['"arn:${Partition}:'] * integrations
    assert MACHINES[lid]["DefinitionSubstitutions"]["Partition"] == {"Ref": "AWS::Partition"}


def task_function(state: dict[str, Any]) -> str:
    """The function a Task runs: its Resource, or for a callback task (lambda:invoke.waitForTaskToken) its FunctionName."""
    return str(state["Parameters"]["FunctionName"] if ":states:::lambda:invoke" in state["Resource"] else state["Resource"])


LAMBDA_TASKS = [key for key, s in ALL.items() if s["Type"] == "Task" and s["Resource"].startswith("${")]
TOKEN_WAITS = [key for key, s in ALL.items() if s["Type"] == "Task" and s["Resource"].endswith(".waitForTaskToken")]
RULE_TARGETS = {
    target["Arn"]["Fn::GetAtt"][0]
    for r in TEMPLATE["Resources"].values()
    if r["Type"] == "AWS::Events::Rule"
    for target in r["Properties"]["Targets"]
    if isinstance(target["Arn"], dict) and "Fn::GetAtt" in target["Arn"] and target["Arn"]["Fn::GetAtt"][0] in FUNCTIONS
}


def test_one_name_in_four_places() -> None:
    # functions/check_restore_status <-> CheckRestoreStatusFunction <-> ${CheckRestoreStatusFunctionArn} <-> "Check Restore Status"
    # (functions/wait_for runs "Wait For Restore", "Wait For Image" and the batch's "Wait For Copy"; a function that only
    # an EventBridge rule runs has no state)
    for lid, props in FUNCTIONS.items():
        base = lid.removesuffix("Function")
        folder = re.sub(r"(?<!^)([A-Z])", r"_\1", base).lower()
        assert props["CodeUri"] == f"functions/{folder}/"
        assert (ROOT / "events" / f"{folder}.json").is_file(), folder
        runs = {
            (machine, name)
            for (machine, name), state in ALL.items()
            if state["Type"] == "Task" and task_function(state) == f"${{{lid}Arn}}"
        }
        substituted = {
            m for m, props in MACHINES.items() if props["DefinitionSubstitutions"].get(f"{lid}Arn") == {"Fn::GetAtt": [lid, "Arn"]}
        }
        assert {m for m, _ in runs} == substituted, lid
        assert runs or lid in RULE_TARGETS, lid
        assert all(name.replace(" ", "").startswith(base) for _, name in runs), (lid, runs)
    assert sorted(RULE_TARGETS) == [
        "ReleaseImageBudgetFunction", "ReportEndedArchiveRunFunction", "ReportEndedExecutionFunction", "ResumeWaitingFunction",
        "SweepDrillResourcesFunction",
    ]  # fmt: skip


@pytest.mark.parametrize("key", [k for k in LAMBDA_TASKS], ids=lambda k: k[1])
def test_every_task_retries_times_out_and_is_caught(key: tuple[str, str]) -> None:
    state, name = ALL[key], key[1]
    retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
    assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException", "States.Timeout"} <= retried
    # Jittered, except the wait for EC2 to list a new AMI: there the point is a guaranteed minimum (10+20+40+80+160 s
    # >= the 300 s Check Image State allows), which full jitter would not keep
    listing = {"ErrorEquals": ["ImageNotYetListedError"], "IntervalSeconds": 10, "MaxAttempts": 5, "BackoffRate": 2.0}
    jittered = [r for r in state["Retry"] if r["ErrorEquals"] != listing["ErrorEquals"]]
    assert all(r["JitterStrategy"] == "FULL" and r["MaxAttempts"] <= 6 for r in jittered)
    assert [r for r in state["Retry"] if r not in jittered] in ([], [{**listing, "MaxDelaySeconds": 160, "JitterStrategy": "NONE"}])
    assert name == "Restore Image" or "ImageNotYetListedError" not in retried
    assert state["TimeoutSeconds"] == 60
    assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
    # A refusal of the input notes it first (Note The Refusal: the email then shows the input, not a step's progress)
    caught = {"Notify Failure": "Restore Failed", "Validate Input": "Note The Refusal", "Validate Batch": "Note The Refusal"}
    if key[0] == "DrillStateMachine":  # a drill's failures go through its cleanup, then its report (tests/static/test_drill_static.py)
        return
    # The archive run: its selection's refusal is noted; each recovery point's failure is its outcome, whose GB are then
    # given back (a failed release leaves the lease to expire); a summary that cannot be sent ends the run FAILED
    caught |= {"Select Recovery Points": "Note The Refusal", "Notify Archive Summary": "Summary Not Sent",
               "Release Store Budget After Failure": "Item Failed"}  # fmt: skip
    caught |= {name: "Note Archive Failure" for (lid, name) in LAMBDA_TASKS if lid == "ArchiveStateMachine" and name not in caught}
    assert state["Catch"][-1]["Next"] == caught.get(name, "Notify Failure")


POLLED_WAITS = {("RestoreStateMachine", "Wait For Restore"): "$.restore", ("RestoreStateMachine", "Wait For Image"): "$.image"}


def test_the_token_waits_are_known() -> None:
    assert sorted(TOKEN_WAITS) == sorted(
        [
            *POLLED_WAITS,
            ("RestoreStateMachine", "Wait For Image Budget"),
            ("BatchRestoreStateMachine", "Wait For Copy"),
            ("ArchiveStateMachine", "Wait For Store Budget"),
            ("ArchiveStateMachine", "Wait For Stored Object"),
        ]
    )


@pytest.mark.parametrize("key", POLLED_WAITS, ids=lambda k: k[1])
def test_every_token_wait_times_out_into_its_next_poll(key: tuple[str, str]) -> None:
    # Given a wait for S3's or EC2's event / Then its timeout is the safety net's next poll (a Pass that takes the next
    # timeout, then the wait again), Lambda's own errors are retried, anything else is caught and emailed
    name, record = key[1], POLLED_WAITS[key]
    state = ALL[key]
    check = "Check Restore Status" if name == "Wait For Restore" else "Check Image State"
    # ...through a question first: a wait that timed out past its last poll (its function did not answer in time) goes
    # to its check, which makes a new schedule; reading past the end would be States.Runtime, which no Catch handles
    question = DEFINITION["States"][state["Catch"][0]["Next"]]
    schedule = DEFINITION["States"][question["Default"]]
    assert question["Choices"] == [
        {"And": [{"Variable": f"{record}.wait.count", "IsPresent": True},
                 {"Variable": f"{record}.wait.next", "NumericGreaterThanEqualsPath": f"{record}.wait.count"}], "Next": check}
    ]  # fmt: skip
    assert (state["TimeoutSecondsPath"], state["Parameters"]["Payload"]["token.$"]) == (f"{record}.wait.seconds", "$$.Task.Token")
    assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.Timeout"], ["States.ALL"]]
    assert (state["Catch"][1]["Next"], schedule["Type"], schedule["Next"]) == ("Notify Failure", "Pass", name)
    assert schedule["ResultPath"] == f"{record}.wait"
    assert schedule["Parameters"]["seconds.$"] == f"States.ArrayGetItem({record}.wait.timeouts, {record}.wait.next)"
    assert schedule["Parameters"]["count.$"] == f"States.ArrayLength({record}.wait.timeouts)"
    # (Lambda's service errors, and the function's own: a failed registration or wake is tried again, with back-off)
    assert [r["ErrorEquals"] for r in state["Retry"]] == [DEFINITION["States"]["Check Storage Class"]["Retry"][0]["ErrorEquals"],
                                                          ["States.TaskFailed"]]  # fmt: skip
    assert (state["Retry"][1]["MaxAttempts"], state["Retry"][1]["JitterStrategy"]) == (3, "FULL")
    assert state["Next"] == check


def test_the_budget_wait_looks_again_every_two_hours_keeping_the_copy_alive() -> None:
    # Given the wait for the image-restore budget / Then Release Image Budget's wake is what ends it; the timeout is the
    # safety net, through Extend Copy (a copy that waited for GB must still outlive its image restore) and back
    state, extend = DEFINITION["States"]["Wait For Image Budget"], DEFINITION["States"]["Extend Copy"]
    assert (state["TimeoutSeconds"], state["Parameters"]["Payload"]["token.$"], state["Next"]) == (7200, "$$.Task.Token", "Restore Image")
    assert [(c["ErrorEquals"], c["Next"]) for c in state["Catch"]] == [
        (["States.Timeout"], "Extend Copy"),
        (["States.ALL"], "Notify Failure"),
    ]
    assert extend["Next"] == "Wait For Image Budget"
    # A queue's deadline is final (a retry would queue it again at the back); a failed call is tried again
    assert [(r["ErrorEquals"], r["MaxAttempts"]) for r in state["Retry"]] == [
        (DEFINITION["States"]["Check Storage Class"]["Retry"][0]["ErrorEquals"], 4),
        (["ImageBudgetDeadlineExceededError"], 0),
        (["States.TaskFailed"], 3),
    ]


@pytest.mark.parametrize(
    "lid", ["RestoreStateMachine", "BatchRestoreStateMachine"]
)  # the archive's and the drill's: their own static tests
def test_every_choice_has_a_deliberate_default_and_failures_end_failed(lid: str) -> None:
    found = states(DEFINITIONS[lid])
    for name, state in found.items():
        if state["Type"] == "Choice":
            assert name.endswith("?") and state["Default"] in found
    assert found["Notify Failure"]["Next"] == "Restore Failed"
    assert found["Restore Failed"]["Type"] == "Fail"
    # Standard workflows run at most a year (Step Functions quotas): a batch of the largest size needs it
    assert DEFINITIONS[lid]["TimeoutSeconds"] == 365 * 24 * 3600


def test_the_fault_matrix_matches_the_fault_tests() -> None:
    page = (ROOT / "docs" / "emulator.md").read_text().split("## Fault matrix", 1)[1]
    table = set(re.findall(r"^\| `(test_fault_\w+)` \|", page, flags=re.MULTILINE))
    files = ("test_faults.py", "test_archive_faults.py")  # the restore side's rows, then the archive side's
    found = [re.findall(r"^def (test_fault_\w+)\(", (ROOT / "tests" / "e2e" / f).read_text(), flags=re.MULTILINE) for f in files]
    tests = {name for names in found for name in names}
    assert table == tests and [len(names) for names in found] == [25, 7]


def test_execution_timeout_outlasts_the_longest_deadlines_and_retries() -> None:
    # Given the largest AMI (5,000 GB), its longest restore deadline (Deep Archive Bulk), its image deadline, the
    # 24 h of quota waits, and every retry back-off of the single restore's Lambda tasks at its cap
    from tests.support import load_function

    restore, image, restore_image, plan = (
        load_function("check_restore_status"),
        load_function("check_image_state"),
        load_function("restore_image"),
        load_function("plan_batch"),
    )
    largest = 5000 * 10**9
    longest_restore = max(restore.deadline_seconds(restore.window_for(f, None, t, largest), largest) for f, t in restore.WINDOWS)
    retries = 0.0
    for (lid, _), state in ALL.items():
        if lid == "RestoreStateMachine" and state["Type"] == "Task" and ".sync" not in state["Resource"]:
            for retry in state.get("Retry", []):
                if retry["MaxAttempts"] == 0:
                    continue  # an error never retried
                interval, cap = retry["IntervalSeconds"], retry.get("MaxDelaySeconds", float("inf"))
                # each attempt: its back-off and the call (a Lambda task's 60 s; a token wait's call is retried within
                # its function's 30 s: its wait is counted with the deadlines)
                retries += sum(min(cap, interval * retry["BackoffRate"] ** n) + 60 for n in range(retry["MaxAttempts"]))
    waits = longest_restore + image.deadline_seconds(largest) + restore_image.QUOTA_WAIT_SECONDS + retries
    # Then a restore's own deadlines end it well within the month a batch's plan keeps free of its year (a batch's
    # children wait for the budget within the plan; a restore alone waits for it at most its queue deadline)
    assert waits < plan.EXECUTION_SECONDS - plan.PLAN_LIMIT_SECONDS == 30 * 24 * 3600
    assert DEFINITION["TimeoutSeconds"] == BATCH["TimeoutSeconds"] == plan.EXECUTION_SECONDS
    # Deep Archive Bulk: 2 x (48 h + 5 TB at 300 MB/s) + 5 TB at 75 MB/s; image: 2 x (10 min + 5 TB at 50 MB/s)
    assert (longest_restore, image.deadline_seconds(largest)) == (2 * (48 * 3600 + 16_667) + 66_667, 2 * (600 + 100_000))
    # And the batch the single restore hands over, and each child the batch starts, are given all but the last minutes
    # of their parent's year: the parent outlives them and ends with their outcome
    handed, child = DEFINITION["States"]["Restore As A Batch"], states(BATCH)["Restore One AMI"]
    assert handed["TimeoutSeconds"] == child["TimeoutSeconds"] == plan.EXECUTION_SECONDS - 1000


def test_the_template_sets_the_log_level_and_no_handler_overrides_it() -> None:
    logging_config = TEMPLATE["Globals"]["Function"]["LoggingConfig"]
    assert (logging_config["LogFormat"], logging_config["ApplicationLogLevel"]) == ("JSON", "INFO")
    assert [lid for lid, props in FUNCTIONS.items() if "setLevel(" in (ROOT / props["CodeUri"] / "app.py").read_text()] == []


def test_the_keys_service_principals_are_this_accounts_only() -> None:
    # Given the key policy / Then EventBridge and CloudWatch use the key only for this account's rules and alarms
    policy = TEMPLATE["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    (delivery,) = [s for s in policy if s["Sid"] == "EventsAndAlarmsDeliverToTheTopicAndQueues"]
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
