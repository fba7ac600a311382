"""Input fuzzing: hypothesis generates thousands of payloads. Valid ones are built from valid parts and must be
accepted exactly as given; invalid ones break one field in a known way and must be refused naming that field.
A sample of invalid ones also runs through the real state machine: FAILED, an email, and no AWS side effect."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.facade import Emulator
from tests.support import BUCKET, load_function

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

app = load_function("validate_input")
FIELDS = ("recoveryPoint", "recoveryPointBucket", "restoreRequestDays", "restoreRequestTier", "amiName")
JSON = {None: "null", True: "true", False: "false"}

# --- valid parts ------------------------------------------------------------------------------------------------
keys = st.from_regex(r"(backups/([a-z0-9-]{1,12}/){0,2})?ami-([0-9a-f]{8}|[0-9a-f]{17})\.bin", fullmatch=True)
CONTROL = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
# A claim of a parent execution: any value (Validate Input's handler keeps it only once it checked that execution)
claims = st.one_of(st.text(max_size=40), st.just("arn:aws:states:us-east-1:123456789012:execution:batch-sm:nightly"))
buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,40}[a-z0-9]", fullmatch=True).filter(
    lambda b: not b.startswith(("xn--", "sthree-", "amzn-s3-demo-")) and not b.endswith("-s3alias")
)
days = st.one_of(st.integers(1, 30), st.integers(1, 30).map(str))
tiers = st.sampled_from(["Standard", "Bulk", "Expedited"]).flatmap(lambda t: st.sampled_from([t, t.lower(), t.upper()]))
ami_names = st.text(alphabet=string.ascii_letters + string.digits + "()[] ./-'@_", min_size=3, max_size=101)


@st.composite
def valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {"recoveryPoint": draw(keys), "recoveryPointBucket": draw(buckets)}
    for name, values in (("restoreRequestDays", days), ("restoreRequestTier", tiers), ("amiName", ami_names), (STARTED_BY, claims)):
        if draw(st.booleans()):
            payload[name] = draw(values)
    return payload


# --- invalid values, each with the field it breaks ---------------------------------------------------------------
not_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_values: dict[str, st.SearchStrategy[Any]] = {
    "recoveryPoint": st.one_of(
        not_strings,
        st.just(""),
        st.text(min_size=1, max_size=30).filter(lambda k: not k.endswith(".bin")),
        st.text(alphabet="éß中", min_size=512, max_size=600).map(lambda k: k + ".bin"),  # over 1,024 bytes
        st.text(min_size=1, max_size=30).map(lambda k: k.replace("-", "")).filter(lambda k: "ami" not in k).map(lambda k: k + ".bin"),
        st.tuples(keys, st.sampled_from(CONTROL), st.integers(0, 60)).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]),
    ),
    "recoveryPointBucket": st.one_of(
        not_strings,
        st.text(max_size=2),
        st.from_regex(r"[a-z0-9]{64,80}", fullmatch=True),
        buckets.map(lambda b: b[0] + "A" + b[1:]),
        buckets.map(lambda b: b[0] + "_" + b[1:]),
        buckets.map(lambda b: b[0] + ".." + b[1:]),
        buckets.map(lambda b: "-" + b),
        st.tuples(*[st.integers(0, 255)] * 4).map(lambda ip: ".".join(map(str, ip))),
        buckets.map(lambda b: "xn--" + b),
        buckets.map(lambda b: b + "--ol-s3"),
    ),
    "restoreRequestDays": st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=31),
        st.integers(31, 10**30).map(str),
        st.sampled_from(["١", "٣", "３", "1.5", " 1", "1 ", "+1", "-1", "", "0", "1e2", "NaN"]),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.lists(st.integers(1, 3), max_size=2),
    ),
    "restoreRequestTier": st.one_of(
        not_strings,
        st.text(max_size=12).filter(lambda t: t.lower() not in ("standard", "bulk", "expedited")),
    ),
    "amiName": st.one_of(
        st.none(),  # null is refused for every field (left out, a field takes its default)
        st.booleans(),
        st.integers(),
        st.text(max_size=2),
        st.text(alphabet=string.ascii_letters, min_size=102, max_size=200),
        st.text(min_size=3, max_size=20).filter(lambda n: any(c not in string.ascii_letters + string.digits + "()[] ./-'@_" for c in n)),
    ),
}


@st.composite
def invalid_payloads(draw: st.DrawFn) -> tuple[Any, ...]:
    """(payload, each text the refusal must contain)."""
    kind = draw(st.sampled_from(["field", "missing", "extra", "not-an-object"]))
    payload: dict[str, Any] = draw(valid_payloads())
    if kind == "not-an-object":
        return (
            draw(st.one_of(not_strings.filter(lambda v: not isinstance(v, dict)), st.text(max_size=20))),
            "the input must be a JSON object",
            "(recoveryPoints instead of recoveryPoint for many AMIs), got ",
        )
    if kind == "missing":
        field = draw(st.sampled_from(["recoveryPoint", "recoveryPointBucket"]))
        del payload[field]
        return payload, f"{field}:"
    if kind == "extra":
        extra = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in FIELDS))
        return {**payload, extra: draw(st.integers())}, "unknown field"
    field = draw(st.sampled_from(FIELDS))
    value = draw(bad_values[field])
    if field == "recoveryPoint" and isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > 1024:
        return {**payload, field: value}, "recoveryPoint: too long: "
    if field == "recoveryPoint" and isinstance(value, str) and any(c in CONTROL for c in value):
        return {**payload, field: value}, "recoveryPoint: must not contain control characters (line breaks, tabs...), got "
    if value is None or isinstance(value, bool):  # echoed as JSON spells it, not as Python does (None, True)
        return {**payload, field: value}, f"{field}: ", f"got {JSON[value]}"
    return {**payload, field: value}, f"{field}:"


@settings(max_examples=500, deadline=None)
@given(valid_payloads())
def test_every_valid_payload_is_accepted_as_given(payload: dict[str, Any]) -> None:
    request, problems = app.validate_input(payload, "*")
    assert problems == []
    assert (request["recoveryPoint"], request["recoveryPointBucket"]) == (payload["recoveryPoint"], payload["recoveryPointBucket"])
    assert request["restoreRequestDays"] == int(payload.get("restoreRequestDays", 1))
    assert request["restoreRequestTier"] == payload.get("restoreRequestTier", "Standard").capitalize()
    assert request["amiName"] == payload.get("amiName")
    claim = payload.get(STARTED_BY)
    assert request.get("startedBy") == (claim if isinstance(claim, str) and claim.startswith("arn:aws:states:") else None)


@settings(max_examples=500, deadline=None)
@given(invalid_payloads())
def test_every_invalid_payload_is_refused_naming_the_field(case: tuple[Any, ...]) -> None:
    payload, *expected = case
    with pytest.raises(app.InvalidInputError) as refused:
        app.lambda_handler({"input": payload, "executionName": "fuzz", "startTime": "2026-01-05T09:00:00Z"}, None)
    assert [text for text in expected if text not in str(refused.value)] == []
    # ...and no character of the input can forge a line of the email: every echoed value is spelled as JSON
    assert [c for c in str(refused.value) if c in CONTROL] == []


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[Emulator, Any]]:
    with Emulator() as aws:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        yield aws, aws.deploy()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invalid_payloads())
def test_invalid_payloads_fail_the_execution_with_no_side_effect(deployed: tuple[Emulator, Any], case: tuple[Any, ...]) -> None:
    aws, stack = deployed
    payload, *expected = case
    run = aws.run(stack, payload)
    # the execution received exactly the JSON the console would send
    assert json.loads(run.history[0]["executionStartedEventDetails"]["input"]) == payload
    assert (run.status, run.error) == ("FAILED", "InvalidInputError")
    assert [text for text in expected if text not in (run.cause or "")] == []
    assert [e["subject"] for e in run.emails] == ["AMI restore failed: InvalidInputError at Validate Input"]
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls) == ([], [])
    assert aws.requests["s3.RestoreObject"] + aws.requests["ec2.CreateRestoreImageTask"] == 0


def near_the_limit(kind: str) -> dict[str, Any]:
    """An invalid input just under Step Functions' 256 KiB: a 255,000-character key, or 7,740 unknown fields (262,137 bytes)."""
    if kind == "long-key":
        return {"recoveryPoint": "k" * 255_000, "recoveryPointBucket": BUCKET}
    fields = {f"field-{n:06d}-{'x' * 11}": n for n in range(7740)}
    payload = {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": BUCKET, **fields}
    assert 261_000 < len(json.dumps(payload).encode()) < 256 * 1024
    return payload


@pytest.mark.parametrize("kind", ["long-key", "many-fields"])
def test_an_invalid_input_near_the_256_kib_limit_is_refused_with_its_email(deployed: tuple[Emulator, Any], kind: str) -> None:
    # Given an invalid input Step Functions accepts, just under its 256 KiB
    aws, stack = deployed
    payload = near_the_limit(kind)
    size = len(json.dumps(payload).encode())
    # When it runs
    run = aws.run(stack, payload)
    # Then it ends InvalidInputError (not States.DataLimitExceeded) with its one email; the refusal names the problem
    # (at most 20, then how many more), and the email shows the input cut, saying so
    assert (run.status, run.error) == ("FAILED", "InvalidInputError")
    (email,) = run.emails
    assert email["subject"] == "AMI restore failed: InvalidInputError at Validate Input"
    if kind == "long-key":
        assert run.cause is not None and "recoveryPoint: too long: 255,000 bytes, where an S3 key has at most 1,024" in run.cause
    else:
        assert run.cause is not None and run.cause.count("unknown field") == 20 and "and 7,720 more problems" in run.cause
    (shown,) = [line for line in email["message"].splitlines() if line.startswith("Input: ")]
    assert shown.endswith(f"... (cut: {size:,} bytes in all; the execution's input in the console has it whole)")
    assert len(shown) < 2200
