"""A bucket's notification configuration as S3 answers it, so a read-modify-write meets S3's own document."""

from __future__ import annotations

import json
from typing import Any

from emulator.facade import Emulator
from tests.support import BUCKET

TOPIC = "arn:aws:sns:us-east-1:123456789012:archive-audit"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:archive-index"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:archive-indexer"
RULES = [{"Name": "prefix", "Value": "ami-"}, {"Name": "suffix", "Value": ".bin"}]  # as the archive side's tooling wrote them


def configuration(aws: Emulator) -> dict[str, Any]:
    answer = aws.client("s3").get_bucket_notification_configuration(Bucket=BUCKET)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_the_configuration_reads_back_as_s3_answers_it(aws: Emulator) -> None:
    # Given a bucket notifying a topic (two events, key filter), a queue (no filter) and a function, and EventBridge on
    written = {
        "TopicConfigurations": [
            {"Id": "audit", "TopicArn": TOPIC, "Events": ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"],
             "Filter": {"Key": {"FilterRules": RULES}}},
        ],
        "QueueConfigurations": [{"Id": "index", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"]}],
        "LambdaFunctionConfigurations": [
            {"Id": "indexer", "LambdaFunctionArn": FUNCTION, "Events": ["s3:ObjectRemoved:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".bin"}]}}},
        ],
        "EventBridgeConfiguration": {},
    }  # fmt: skip
    aws.client("s3").put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=written)
    # When it is read back
    read = configuration(aws)
    # Then every Id, event, filter value and destination is there, EventBridge too (moto 5.2.5 leaves it out), and the
    # rule names are capitalised as S3 answers them
    assert read == {
        "TopicConfigurations": [
            {"Id": "audit", "TopicArn": TOPIC, "Events": ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"],
             "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "ami-"}, {"Name": "Suffix", "Value": ".bin"}]}}},
        ],
        "QueueConfigurations": [{"Id": "index", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"]}],
        "LambdaFunctionConfigurations": [
            {"Id": "indexer", "LambdaFunctionArn": FUNCTION, "Events": ["s3:ObjectRemoved:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".bin"}]}}},
        ],
        "EventBridgeConfiguration": {},
    }  # fmt: skip


def test_what_was_read_can_be_written_back_and_still_filters(aws: Emulator) -> None:
    # Given a bucket notifying a queue of new `ami-*.bin` objects, its configuration read back (names `Prefix`, `Suffix`)
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="archive-index")["QueueUrl"]
    first = {
        "QueueConfigurations": [
            {"Id": "index", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": RULES}}}
        ]
    }
    aws.client("s3").put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=first)
    read = configuration(aws)
    # When exactly that document is written back (moto 5.2.5 refuses those names) and two objects are written
    aws.client("s3").put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=read)
    aws.client("s3").put_object(Bucket=BUCKET, Key="ami-0123456789abcdef0.bin", Body=b"")
    aws.client("s3").put_object(Bucket=BUCKET, Key="notes.txt", Body=b"")
    # Then it reads back the same, and the filter still selects the `.bin` object only
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    keys = [r["s3"]["object"]["key"] for m in messages for r in json.loads(m["Body"]).get("Records", [])]
    assert (configuration(aws), keys) == (read, ["ami-0123456789abcdef0.bin"])
