"""S3's and EC2's own events, matched by EventBridge rules and delivered on the virtual clock (emulator/eventbridge.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from emulator.facade import Emulator
from tests.support import BUCKET

HOUR = 3600


def rule_to_queue(aws: Emulator, pattern: dict[str, Any], name: str = "restores") -> str:
    sqs, events = aws.client("sqs"), aws.client("events")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received(aws: Emulator, url: str) -> list[dict[str, Any]]:
    """The messages waiting in the queue, consumed (deleted) as a reader would."""
    sqs = aws.client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def eventbridge_on(aws: Emulator, bucket: str = BUCKET) -> None:
    aws.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})


def test_a_restore_emits_initiated_completed_and_expired_with_awss_fields(aws: Emulator) -> None:
    # Given a bucket sending events to EventBridge (in effect 5 minutes after the setting) and a rule for its restores
    key = aws.archive_ami("web-server", BUCKET, "GLACIER", size_gb=10)
    aws.world.restore_seconds[key] = 4 * HOUR
    eventbridge_on(aws)
    aws.clock.advance(300)
    url = rule_to_queue(
        aws, {"source": ["aws.s3"], "detail-type": [{"prefix": "Object Restore"}], "detail": {"bucket": {"name": [BUCKET]}}}
    )
    # When a restore runs to its end and its copy expires
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
    aws.clock.advance(4 * HOUR + 600)
    completed = received(aws, url)
    aws.clock.advance(2 * 24 * HOUR)
    expired = received(aws, url)
    # Then three events, in AWS's shapes
    assert [e["detail-type"] for e in completed] == ["Object Restore Initiated", "Object Restore Completed"]
    done = completed[1]
    assert (done["source"], done["resources"], done["time"]) == ("aws.s3", [f"arn:aws:s3:::{BUCKET}"], "2026-01-05T13:05:00Z")
    assert {k: done["detail"][k] for k in ("version", "bucket", "restore-expiry-time", "source-storage-class", "requester")} == {
        "version": "0",
        "bucket": {"name": BUCKET},
        "restore-expiry-time": "2026-01-07T00:00:00.000Z",
        "source-storage-class": "GLACIER",
        "requester": "s3.amazonaws.com",
    }
    assert (done["detail"]["object"]["key"], done["detail"]["object"]["size"]) == (key, 10 * 10**9)
    assert [(e["detail-type"], e["time"]) for e in expired] == [("Object Restore Expired", "2026-01-07T00:00:00Z")]


def test_no_events_before_the_setting_takes_effect_or_without_it(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    url = rule_to_queue(aws, {"source": ["aws.s3"], "detail-type": [{"prefix": "Object Restore"}]})
    restore = {"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}}
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest=restore)  # the bucket sends no events
    eventbridge_on(aws)
    other = aws.archive_ami("db-server", BUCKET, "GLACIER")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=other, RestoreRequest=restore)  # on, but not yet in effect
    aws.clock.advance(60)
    assert (received(aws, url), [e["detail-type"] for e in aws.eventbridge.emitted]) == ([], [])


def test_an_ami_state_change_reaches_the_rule_with_ec2s_fields(aws: Emulator) -> None:
    # Given a rule for restored images becoming available or failed, and an image restore of 30 min
    url = rule_to_queue(aws, {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"], "detail": {"State": ["available", "failed"]}})
    key = aws.archive_ami("web-server", BUCKET, "GLACIER_IR")
    aws.world.image_seconds[key] = 30 * 60
    image_id = aws.client("ec2").create_restore_image_task(Bucket=BUCKET, ObjectKey=key, Name="web-server-restored")["ImageId"]
    # When the image is available (nobody polls it) / Then the event went out at 09:30, delivered seconds later
    aws.clock.advance(30 * 60 + 400)
    (event,) = received(aws, url)
    assert (event["time"], event["resources"]) == ("2026-01-05T09:30:00Z", [f"arn:aws:ec2:us-east-1::image/{image_id}"])
    assert {k: event["detail"][k] for k in ("ImageId", "State", "ErrorMessage")} == {
        "ImageId": image_id,
        "State": "available",
        "ErrorMessage": "",
    }
    (delivery,) = aws.eventbridge.deliveries
    assert delivery.outcome == "delivered"
    assert timedelta(0) < delivery.at - aws.clock.now().replace(hour=9, minute=30, second=0) <= timedelta(minutes=5)


def test_events_can_be_lost_or_delivered_twice(aws: Emulator) -> None:
    url = rule_to_queue(aws, {"source": ["aws.ec2"]})
    ec2 = aws.client("ec2")
    aws.world.event_loss = 1.0
    lost = aws.archive_ami("lost-server", BUCKET, "GLACIER_IR")
    ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=lost, Name="lost-restored")
    aws.clock.advance(24 * HOUR)
    assert (len(aws.eventbridge.emitted), received(aws, url)) == (1, [])
    aws.world.event_loss, aws.world.event_duplication = 0.0, 1.0
    twice = aws.archive_ami("twice-server", BUCKET, "GLACIER_IR")
    ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=twice, Name="twice-restored")
    aws.clock.advance(24 * HOUR)
    copies = received(aws, url)
    assert (len(copies), copies[0]["id"] == copies[1]["id"]) == (2, True)


def test_delivery_delays_are_seconds_with_a_tail_to_minutes() -> None:
    from emulator.world import World

    world = World(seed=5)
    delays = sorted(world.event_delay(f"event-{n}", "arn:aws:sqs:us-east-1:123456789012:q", 0) for n in range(2000))
    # 90 % within 0.5-10 s, 9 % 10-60 s, 1 % 1-5 min (the world's assumption on AWS's "seconds, sometimes a minute")
    assert delays[0] >= 0.5 and delays[-1] <= 300
    assert 1740 <= sum(1 for d in delays if d <= 10) <= 1860
    assert 8 <= sum(1 for d in delays if d > 60) <= 40


def test_a_step_functions_target_starts_the_state_machine_with_the_transformed_input(aws: Emulator) -> None:
    # Given the deployed workflow as the target of a rule on completed restores, with an input transformer
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "GLACIER", size_gb=8)
    aws.world.restore_seconds[key], aws.world.image_seconds[key] = HOUR, 15 * 60
    eventbridge_on(aws)
    aws.clock.advance(300)
    aws.client("events").put_rule(Name="restored", EventPattern=json.dumps({"detail-type": ["Object Restore Completed"]}))
    template = '{"recoveryPoint": "<key>", "recoveryPointBucket": "<bucket>"}'
    transformer = {"InputPathsMap": {"key": "$.detail.object.key", "bucket": "$.detail.bucket.name"}, "InputTemplate": template}
    aws.client("events").put_targets(
        Rule="restored", Targets=[{"Id": "workflow", "Arn": stack.state_machine_arn, "InputTransformer": transformer}]
    )
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
    # When the copy is readable / Then the event starts an execution that restores the image from it
    aws.clock.advance(HOUR + 300)
    (execution,) = aws.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    run = aws.wait(stack, execution["executionArn"])
    assert json.loads(run.history[0]["executionStartedEventDetails"]["input"]) == {"recoveryPoint": key, "recoveryPointBucket": BUCKET}
    assert (run.status, run.output["restoreOutcome"]) == ("SUCCEEDED", "restored-before-this-run")


def test_put_events_reaches_lambda_and_step_functions_targets_and_later_rules(aws: Emulator) -> None:
    # Given two rules for one custom event: the first targets the workflow (moto alone raises NotImplementedError here
    # and never reaches the second), the second a queue
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "GLACIER_IR")
    events = aws.client("events")
    pattern = json.dumps({"source": ["ops.recovery"]})
    events.put_rule(Name="to-workflow", EventPattern=pattern)
    events.put_targets(Rule="to-workflow", Targets=[{"Id": "sm", "Arn": stack.state_machine_arn, "InputPath": "$.detail"}])
    url = rule_to_queue(aws, {"source": ["ops.recovery"]}, name="audit")
    # When an operator's tool puts the event
    detail = {"recoveryPoint": key, "recoveryPointBucket": BUCKET}
    (entry,) = events.put_events(Entries=[{"Source": "ops.recovery", "DetailType": "Restore Requested", "Detail": json.dumps(detail)}])[
        "Entries"
    ]
    aws.clock.advance(400)
    # Then both targets got it: the queue the whole event, the workflow its detail as input
    assert [(e["id"], e["detail"]) for e in received(aws, url)] == [(entry["EventId"], detail)]
    (execution,) = aws.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    run = aws.wait(stack, execution["executionArn"])
    assert (run.status, json.loads(run.history[0]["executionStartedEventDetails"]["input"])) == ("SUCCEEDED", detail)


def test_an_input_transformer_reads_array_indices_and_quotes_strings_outside_quotes() -> None:
    # Given AWS Backup's job event (the recovery point ARN in resources[0]) and a JSON input template (EventBridge User
    # Guide, input transformation: array indices are supported; API Reference, InputTransformer: a placeholder outside
    # quotes takes the value as JSON, inside them its text)
    from emulator.adapters.events import transform

    event = {"time": "2026-01-05T09:00:00Z", "resources": ["arn:aws:ec2:us-east-1::image/ami-0a1b2c3d4e5f60718"],
             "detail": {"backupVaultName": "daily", "percentDone": 100}}  # fmt: skip
    paths = {"arn": "$.resources[0]", "vault": "$.detail.backupVaultName", "done": "$.detail.percentDone"}
    template = '{"recoveryPointArns": [<arn>], "vaultName": <vault>, "note": "<vault> at <done> %", "done": <done>}'
    target = {"InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}
    # When the target's input is made / Then
    assert transform(target, event) == {
        "recoveryPointArns": ["arn:aws:ec2:us-east-1::image/ami-0a1b2c3d4e5f60718"],
        "vaultName": "daily",
        "note": "daily at 100 %",
        "done": 100,
    }
