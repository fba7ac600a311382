"""The emulator server's GetObjectTagging shortcut (emulator/serving.py) against moto's own handler.

Two servers on one emulator: `serving.serve` (as `Emulator.serve` runs it) and the same app without the shortcut. Each
case sends the same GetObjectTagging to both, as botocore sends it, and compares the raw answers: status, headers
(all but Date and the request id), body. The shortcut must answer the plain cases and leave every other one to moto.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import xmltodict
from botocore.exceptions import ClientError
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.moto_api._internal import mock_random
from moto.s3.models import s3_backends

from emulator.adapters import serving
from emulator.facade import FAKE_KEY, Emulator
from tests.support import BUCKET

# Each kind of character moto's tagging API accepts in a value, as PutObject's Tagging header carries them
TAGS = "ami-name=web-server-2025-01&ami-description=nightly%3A%20full%3D1%2B2%20%40%2010%3A00%20%2F%20Z%C3%BCrich-%E6%9D%B1%E4%BA%AC_a.b"
ARCHIVED = "ami-0123456789abcdef0.bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # all but Date and the request id
    body: bytes
    request_id: str


@dataclass
class Servers:
    aws: Emulator
    shortcut: serving.Tagging  # the app of the server with the shortcut
    endpoints: dict[str, str]  # "shortcut" | "moto" -> endpoint

    def ask(self, which: str, bucket: str, key: str, keys: tuple[str, str] = (FAKE_KEY, FAKE_KEY), header: str = "") -> Answer:
        """GetObjectTagging through one server as botocore sends it; `header` ("Name: value") is added to the request."""
        make: Any = boto3.client
        access = {"aws_access_key_id": keys[0], "aws_secret_access_key": keys[1]}
        s3 = make("s3", endpoint_url=self.endpoints[which], region_name="us-east-1", **access)
        raw: list[dict[str, Any]] = []
        s3.meta.events.register("before-parse.s3.GetObjectTagging", lambda response_dict, **_: raw.append(response_dict))
        if header:
            name, value = header.split(": ", 1)
            s3.meta.events.register("before-sign.s3.GetObjectTagging", lambda request, **_: request.headers.__setitem__(name, value))
        with contextlib.suppress(ClientError):  # the raw answer is what counts
            s3.get_object_tagging(Bucket=bucket, Key=key)
        headers = dict(raw[-1]["headers"])
        request_id = headers.pop("x-amzn-requestid")
        headers.pop("Date")
        return Answer(raw[-1]["status_code"], headers, raw[-1]["body"], request_id)

    def both(self, bucket: str, key: str, **kwargs: Any) -> tuple[Answer, Answer, bool]:
        """(the shortcut server's answer, moto's, whether the shortcut answered)."""
        before = self.shortcut.answered
        fast = self.ask("shortcut", bucket, key, **kwargs)
        answered = self.shortcut.answered == before + 1
        return fast, self.ask("moto", bucket, key, **kwargs), answered


@pytest.fixture
def servers(aws: Emulator) -> Iterator[Servers]:
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key=ARCHIVED, Body=b"AMI", StorageClass="GLACIER", Tagging=TAGS)
    fast_port, moto_port = free_port(), free_port()
    fast, moto = serving.serve(aws, fast_port), serving.serve(aws, moto_port, shortcut=False)
    app = fast.app
    assert isinstance(app, serving.Tagging)
    try:
        yield Servers(aws, app, {"shortcut": fast.endpoint, "moto": moto.endpoint})
    finally:
        fast.stop()
        moto.stop()


def body(answer: Answer) -> Any:
    """The parsed body without the request id (error bodies carry it)."""
    parsed = xmltodict.parse(answer.body) if answer.body else None
    if parsed and "Error" in parsed:
        parsed["Error"].pop("RequestId")
    return parsed


def same(fast: Answer, moto: Answer) -> None:
    assert (fast.status, fast.headers, body(fast)) == (moto.status, moto.headers, body(moto))
    assert re.fullmatch(r"[A-Za-z0-9]{52}", fast.request_id) and re.fullmatch(r"[A-Za-z0-9]{52}", moto.request_id)


def test_the_shortcut_answers_an_archived_objects_tags_as_moto_does(servers: Servers) -> None:
    # Given a GLACIER object with a tag of every kind of character moto's API takes, and one written straight into
    # moto's tagger with characters its API refuses and XML escapes
    backend = s3_backends[servers.aws.account_id]["aws"]
    backend.tagger.tag_resource(backend.buckets[BUCKET].keys[ARCHIVED].arn, [{"Key": "ami-owner", "Value": "R&D <infra> \"1\" '2' ✓"}])
    # When both servers are asked for its tags
    fast, moto, answered = servers.both(BUCKET, ARCHIVED)
    # Then the shortcut answered, byte for byte as moto did
    assert answered and fast.status == 200 and fast.body == moto.body
    same(fast, moto)
    assert body(fast)["Tagging"]["TagSet"]["Tag"] == [
        {"Key": "ami-name", "Value": "web-server-2025-01"},
        {"Key": "ami-description", "Value": "nightly: full=1+2 @ 10:00 / Zürich-東京_a.b"},
        {"Key": "ami-owner", "Value": "R&D <infra> \"1\" '2' ✓"},
    ]


@pytest.mark.parametrize(
    "key, tagging",
    [("ami-00000000000000001.bin", ""), ("backups/2025/ami-00000000000000002.bin", "a=1&b=2&c=3"), ("ami-00000000000000003.bin", "a=&b=2")],
    ids=["untagged", "under-a-prefix", "empty-value"],
)
def test_untagged_prefixed_and_empty_valued_objects(servers: Servers, key: str, tagging: str) -> None:
    servers.aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"AMI", Tagging=tagging)
    fast, moto, answered = servers.both(BUCKET, key)
    assert answered and fast.status == 200 and fast.body == moto.body
    same(fast, moto)


def test_the_same_side_effects_as_moto(servers: Servers) -> None:
    # Given moto's seeded random, its request count and its key's state ticks / When each server answers once
    key = s3_backends[servers.aws.account_id]["aws"].buckets[BUCKET].keys[ARCHIVED]
    effects = {}
    for which in ("moto", "shortcut"):
        mock_random.seed(11)
        count, ticks = ActionAuthenticatorMixin.request_count, key._tick
        servers.ask(which, BUCKET, ARCHIVED)
        effects[which] = (mock_random.random(), ActionAuthenticatorMixin.request_count - count, key._tick - ticks)
    # Then both drew the same random numbers (the ids that follow are the same), counted one request, ticked twice
    assert effects["shortcut"] == effects["moto"] and effects["moto"][1:] == (1, 2)
    assert servers.shortcut.answered == 1


def nothing(aws: Emulator) -> None:
    pass


def versioned(aws: Emulator) -> None:
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key=ARCHIVED, Body=b"AMI", StorageClass="GLACIER", Tagging=TAGS)


def bucket_policy(aws: Emulator) -> None:
    statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    aws.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def fault(aws: Emulator) -> None:
    # In-process clients meet faults before sending (emulator/adapters/wire.py): this one matches none of this test's requests
    aws.faults.request("s3.GetObjectTagging", "SlowDown", 503, times=5, match="a body GetObjectTagging never has")


def odd_key(aws: Emulator) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key="web server+1 é.bin", Body=b"AMI", Tagging=TAGS)


@pytest.mark.parametrize(
    "given, bucket, key, header, status",
    [
        (nothing, BUCKET, "ami-0000000000000000f.bin", "", 404),  # NoSuchKey
        (nothing, "no-such-bucket", ARCHIVED, "", 404),  # NoSuchBucket
        (versioned, BUCKET, ARCHIVED, "", 200),  # moto names the version in a header
        (bucket_policy, BUCKET, ARCHIVED, "", 403),  # moto's bucket-policy check denies this Deny of s3:GetObject
        (fault, BUCKET, ARCHIVED, "", 200),  # any fault armed for the operation
        (odd_key, BUCKET, "web server+1 é.bin", "", 200),  # percent-encoded in the URL
        (nothing, BUCKET, ARCHIVED, "Origin: https://console.example.com", 200),  # CORS
        (nothing, BUCKET, ARCHIVED, "If-Match: not-the-etag", 412),
        (nothing, BUCKET, ARCHIVED, "x-moto-account-id: 111122223333", 200),  # the bucket, with that account's (no) tags
    ],
    ids=["no-such-key", "no-such-bucket", "versioned", "policy", "fault", "encoded-key", "origin", "if-match", "account"],
)
def test_everything_else_is_left_to_moto(
    servers: Servers, given: Callable[[Emulator], None], bucket: str, key: str, header: str, status: int
) -> None:
    # Given a case only moto's handler decides / When both servers are asked / Then moto answered both, alike
    given(servers.aws)
    fast, moto, answered = servers.both(bucket, key, header=header)
    assert not answered and fast.status == status
    same(fast, moto)


def test_iam_still_decides_when_enforced(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a user without any policy and moto's IAM enforcement on (as Emulator.enforce_iam turns it on)
    iam = servers.aws.client("iam")
    iam.create_user(UserName="reader")
    created = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    # When both servers are asked for the tags with its keys
    fast, moto, answered = servers.both(BUCKET, ARCHIVED, keys=(created["AccessKeyId"], created["SecretAccessKey"]))
    # Then moto denied both
    assert not answered and fast.status == 403 and body(fast)["Error"]["Code"] == "AccessDenied"
    same(fast, moto)
