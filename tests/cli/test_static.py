"""The command line's copies of the workflow's rules agree with the handlers; its pure parts give exact results."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from glacier_ami_restore import archive, estimate, validation, workflow
from tests.support import ROOT

HOUR = 3600


def handler(name: str) -> ModuleType:
    """functions/<name>/app.py imported by path (it creates its boto3 client at import: region and fake keys are set)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    spec = importlib.util.spec_from_file_location(f"cli_static_{name}", ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_rules_agree_with_validate_input() -> None:
    # Given the Validate Input handler and the command line's copy of its rules
    app = handler("validate_input")
    # Then every constant is the same
    for name in ("MAX_RESTORE_DAYS", "TIERS", "FIELDS", "AMI_NAME_SUFFIX_LENGTH", "BUCKET_PREFIXES", "BUCKET_SUFFIXES", "MAX_KEY_BYTES"):
        assert getattr(validation, name) == getattr(app, name), name
    for name in ("AMI_NAME_PATTERN", "BUCKET_PATTERN", "ASCII_DIGITS"):
        assert getattr(validation, name).pattern == getattr(app, name).pattern, name
    # And bucket names are judged alike
    for bucket in ("my-ami-archive", "a..b", "192.168.0.1", "xn--bucket", "bucket-s3alias", "UPPER", "ab", "a" * 64):
        assert validation.bucket_problem(bucket) == app.bucket_problem(bucket), bucket


def normalised_windows(windows: Any) -> dict[tuple[str, str], tuple[int, int]]:
    """(family, tier) -> (earliest, latest) seconds, from the shapes the handler's WINDOWS may take: keyed by tuples or
    nested by family, values as pairs, dicts or objects with earliest/latest."""

    def pair(value: Any) -> tuple[int, int]:
        if isinstance(value, dict):
            return int(value["earliest"]), int(value["latest"])
        if hasattr(value, "earliest"):
            return int(value.earliest), int(value.latest)
        earliest, latest = value
        return int(earliest), int(latest)

    found: dict[tuple[str, str], tuple[int, int]] = {}
    for key, value in windows.items():
        if isinstance(key, tuple):
            found[(str(key[0]), str(key[1]))] = pair(value)
        else:
            found.update({(str(key), str(tier)): pair(inner) for tier, inner in value.items()})
    return found


def test_restore_windows_agree_with_check_restore_status() -> None:
    # Given the windows Check Restore Status polls by and the ones the command line estimates with
    app = handler("check_restore_status")
    # Then they are the same, and they are AWS's documented windows (Deep Archive lower bounds assumed)
    assert normalised_windows(app.WINDOWS) == estimate.WINDOWS
    assert estimate.WINDOWS == {
        ("GLACIER", "Expedited"): (60, 300),
        ("GLACIER", "Standard"): (3 * HOUR, 5 * HOUR),
        ("GLACIER", "Bulk"): (5 * HOUR, 12 * HOUR),
        ("DEEP_ARCHIVE", "Standard"): (9 * HOUR, 12 * HOUR),
        ("DEEP_ARCHIVE", "Bulk"): (24 * HOUR, 48 * HOUR),
    }


def test_size_aware_windows_agree_with_check_restore_status() -> None:
    # Given Check Restore Status's window for a class, a tier and an object size (when it takes the size)
    app = handler("check_restore_status")
    if "size_bytes" not in inspect.signature(app.window_for).parameters:
        pytest.skip("this version of Check Restore Status has no size-aware windows")
    # Then the command line estimates the same window for small, large and huge objects
    for (kind, tier), _ in estimate.WINDOWS.items():
        for size in (34, 10**9, 5 * 10**12):
            expected = app.window_for(kind, None, tier, size_bytes=size)
            assert estimate.restore_window(kind, tier, size) == tuple(expected), (kind, tier, size)


def ami(size: int, storage_class: str = "GLACIER", key: str = "ami-0123456789abcdef0.bin") -> archive.ArchivedAmi:
    moment = datetime(2025, 1, 31, tzinfo=UTC)
    return archive.ArchivedAmi("web", "ami-0123456789abcdef0", "my-ami-archive", key, storage_class, None, size, moment, None, None, None)


def test_estimate_of_100_gib_from_flexible_retrieval() -> None:
    # Given a 100 GiB object in Glacier Flexible Retrieval and a 3-day copy
    # When it is estimated
    options = estimate.estimate(ami(100 * 2**30), days=3)
    # Then (hand-computed from prices.json) each tier's window (+ 358 s of transfer at 300 MB/s), time to the AMI
    # (+ 600 s + 1024 s at 100 MiB/s) and cost are exactly these
    costs = [o.as_json()["cost"] for o in options]
    pairs = zip(options, costs, strict=True)
    found = [(o.tier, o.restore_seconds, o.available_seconds, c["retrieval"], c["requests"], c["total"]) for o, c in pairs]
    assert found == [
        ("Expedited", (418, 658), (2042, 2282), 3.0, 0.01, 3.244518),
        ("Standard", (10800, 18358), (12424, 19982), 1.0, 0.00005, 1.234568),
        ("Bulk", (18000, 43558), (19624, 45182), 0.0, 0.0, 0.234518),
    ]
    # the copy: 100 GiB x $0.023 x 3/30; the workflow: 170 transitions ($0.00425), 100 invocations ($0.00002) of
    # 0.125 GB-s ($0.000208), 100 HEADs ($0.00004)
    assert {(c["temporaryCopy"], c["workflow"]) for c in costs} == {(0.23, 0.004518)}
    # And the fastest is Expedited, the cheapest Bulk
    assert (estimate.fastest(options).tier, estimate.cheapest(options).tier) == ("Expedited", "Bulk")


@pytest.mark.parametrize(
    ("storage_class", "archive_status", "tiers"),
    [
        ("GLACIER", None, ("Expedited", "Standard", "Bulk")),
        ("DEEP_ARCHIVE", None, ("Standard", "Bulk")),
        ("INTELLIGENT_TIERING", "ARCHIVE_ACCESS", ("Expedited", "Standard", "Bulk")),
        ("INTELLIGENT_TIERING", "DEEP_ARCHIVE_ACCESS", ("Standard", "Bulk")),
        ("INTELLIGENT_TIERING", None, ()),
        ("GLACIER_IR", None, ()),
        ("STANDARD", None, ()),
    ],
)
def test_tiers_allowed_by_class(storage_class: str, archive_status: str | None, tiers: tuple[str, ...]) -> None:
    # Given an object of this class / Intelligent-Tiering tier
    # Then only the tiers S3 offers for it are estimated
    assert estimate.tiers_for(storage_class, archive_status) == tiers


def test_readable_objects_need_no_restore() -> None:
    # Given a 1 GiB Instant Retrieval object
    [option] = estimate.estimate(ami(2**30, "GLACIER_IR"), days=1)
    # Then there is one option: no tier, the image time only, and a note about Instant Retrieval's fee
    assert (option.tier, option.available_seconds, round(option.total, 6)) == (None, (611, 611), 0.004518)
    assert option.note is not None and option.note.startswith("readable now: no restore; Instant Retrieval bills a per-GB retrieval fee")


def test_execution_names_are_derived_from_the_request() -> None:
    # Given two requests (hashes computed independently with sha256sum)
    plain = workflow.payload(ami(1), "Standard", "1", None)
    prefixed = workflow.payload(ami(1, key="backups/2025/ami-0123456789abcdef0.bin"), "Bulk", "3", "web")
    long = workflow.payload(ami(1, key="a" * 200 + ".bin"), "Standard", "1", None)
    # Then the payloads are exactly what Validate Input accepts, Days as a string
    assert plain == {
        "recoveryPoint": "ami-0123456789abcdef0.bin",
        "recoveryPointBucket": "my-ami-archive",
        "restoreRequestDays": "1",
        "restoreRequestTier": "Standard",
    }
    assert prefixed["amiName"] == "web"
    # And the names are stable, legal for Step Functions and at most 80 characters
    assert workflow.execution_name(plain) == "cli-ami-0123456789abcdef0-4d3d76740fa55b81"
    assert workflow.execution_name(plain, again="2026-01-05T13:15:00Z") == "cli-ami-0123456789abcdef0-99e683bb854ee180"
    assert workflow.execution_name(prefixed) == "cli-backups-2025-ami-0123456789abcdef0-b2cfe24666852aad"
    assert workflow.execution_name(long) == "cli-" + "a" * 59 + "-69041e72fea711f2"
    assert len(workflow.execution_name(long)) == 80


def test_tags_are_read_defensively() -> None:
    # Given objects tagged with different spellings, or not at all
    item = {"Key": "ami-0123456789abcdef0.bin", "LastModified": datetime(2025, 2, 1, tzinfo=UTC), "Size": 5, "StorageClass": "DEEP_ARCHIVE"}
    spelled = archive.from_listing("b", item, {"AmiName": "web", "ami-store-date": "2025-01-31T10:00:00Z"}, None)
    named = archive.from_listing("b", item, {"Name": "db", "CreationDate": "2024-12-01T00:00:00.000Z"}, None)
    bare = archive.from_listing("b", {**item, "RestoreStatus": {"IsRestoreInProgress": True}}, {}, None)
    # Then the name and date come from whichever tag exists, else the image id and LastModified
    assert (spelled.name, spelled.archived_at) == ("web", datetime(2025, 1, 31, 10, tzinfo=UTC))
    assert (named.name, named.archived_at) == ("db", datetime(2024, 12, 1, tzinfo=UTC))
    assert (bare.name, bare.archived_at, bare.restore_status) == ("ami-0123456789abcdef0", datetime(2025, 2, 1, tzinfo=UTC), "in-progress")


def test_stack_name_comes_from_samconfig(tmp_path: Path) -> None:
    # Given the repository's samconfig.toml, one naming a deploy stack, and none
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "samconfig.toml").write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "ami-restore-prod"\n')
    # Then the default stack is the one each names, else glacier-ami-restore
    assert workflow.default_stack(ROOT) == "glacier-ami-restore"
    assert workflow.default_stack(custom) == "ami-restore-prod"
    assert workflow.default_stack(tmp_path) == "glacier-ami-restore"


def test_input_rules_refuse_what_validate_input_refuses() -> None:
    # Given bad tier, days and AMI names
    # Then each is refused with the flag to fix; good ones pass
    assert validation.tier_problem("Standard") is None and validation.days_problem("30") is None
    assert validation.days_problem("0") == "--days must be a whole number from 1 to 30 (got '0')"
    assert validation.days_problem("١") == "--days must be a whole number from 1 to 30 (got '١')"
    assert validation.ami_name_problem("ab") is not None and validation.ami_name_problem("web server (restored)") is None
    assert validation.key_problem("ami-0123456789abcdef0.txt") == (
        "'ami-0123456789abcdef0.txt' is not an AMI object written by CreateStoreImageTask: an optional path, then ami- and 8 or 17 "
        "hex digits, then .bin"
    )
    assert validation.key_problem("a" * 1996 + ".bin") == "the object key is too long: 2,000 bytes, where an S3 key has at most 1,024"
    assert validation.tier_problem("Fast") == "--tier must be one of Standard, Bulk, Expedited, in any letter case (got 'Fast')"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", workflow.execution_name(workflow.payload(ami(1, key="ä ö/ü.bin"), "Bulk", "2", None)))


def test_every_waiting_state_of_the_definition_has_a_stage() -> None:
    # Given the state machine's states / Then each one from Request Restore on is a stage of `watch` (the states before
    # it, the failure paths, the batch questions and Extend Copy / Wait For Quota between the stages, show as "starting")
    import json
    from pathlib import Path

    def names(states: dict[str, Any]) -> set[str]:  # with the states inside the batch's Maps
        inner = (names(s["ItemProcessor"]["States"]) for s in states.values() if "ItemProcessor" in s)
        return set(states).union(*inner)

    machines = Path(__file__).resolve().parents[2] / "statemachine"
    states = set().union(*(names(json.loads((machines / f).read_text())["States"]) for f in ("definition.asl.json", "batch.asl.json")))
    staged = {state for names in workflow.STAGES.values() for state in names}
    unstaged = {"Validate Input", "Note The Refusal", "Validate Batch", "Check Storage Class", "Is Recovery Point Readable?",
                "Extend Copy", "Extend Copy After Quota Wait", "Has Image Restore Started?", "Wait For Quota", "Notify Failure",
                "Restore Failed", "Is It A Batch?", "Note The Batch Refusal", "Read The Batch Outcome", "Did The Batch Say Why?",
                "Batch Restore Failed", "Batch Restore Ended", "Is It A Selection?", "Batch Failed"}  # fmt: skip
    assert states - unstaged == staged


def test_status_writes_the_class_as_list_does_and_the_expiry_in_iso_8601() -> None:
    from glacier_ami_restore import progress

    # Given a finished Intelligent-Tiering restore whose output gives the class and the tier apart, and the expiry of an
    # execution that ran before the records kept it in ISO 8601 (S3's HTTP date)
    started = datetime(2026, 1, 5, 9, tzinfo=UTC)
    found = workflow.Progress(
        arn="arn:x", name="x", status="SUCCEEDED", stage="done", state=None, started=started, now=started, stopped=started,
        request={"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "vault"}, storage_class="INTELLIGENT_TIERING",
        archive_status="ARCHIVE_ACCESS", tier="Bulk", copy_expiry=workflow.read_time("Thu, 08 Jan 2026 00:00:00 GMT"),
    )  # fmt: skip
    # Then the table labels the class as `list` does, and the expiry reads as every other time, in the table and its JSON
    rows = dict(progress.rows(found))
    assert (rows["Recovery point"], rows["Copy expires"]) == (
        "s3://vault/ami-0123456789abcdef0.bin (INTELLIGENT_TIERING/ARCHIVE_ACCESS, Bulk)",
        "2026-01-08 00:00Z",
    )
    assert (found.as_json()["storageClass"], found.as_json()["archiveStatus"], found.as_json()["copyExpiresAt"]) == (
        "INTELLIGENT_TIERING",
        "ARCHIVE_ACCESS",
        "2026-01-08T00:00:00Z",
    )
