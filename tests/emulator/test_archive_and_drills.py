"""What the archive side and the drills will ask of the emulator, end to end through boto3 clients: AWS Backup's EC2
recovery points, store tasks and S3's events, lifecycle transitions, scheduled rules and the EC2 calls of a drill."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.facade import Emulator
from tests.support import BUCKET

HOUR, DAY, GB, GIB = 3600, 86400, 10**9, 2**30


def queue_rule(aws: Emulator, name: str, pattern: dict[str, Any]) -> str:
    sqs, events = aws.client("sqs"), aws.client("events")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received(aws: Emulator, url: str) -> list[dict[str, Any]]:
    messages = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return error.value.response["Error"]["Code"], error.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_recovery_points_are_listed_described_tagged_and_deleted_with_their_ami(aws: Emulator) -> None:
    # Given three EC2 recovery points of a daily plan, 45, 31 and 3 days old
    backup, ec2 = aws.client("backup"), aws.client("ec2")
    arns = [aws.backup_ec2("daily", name=f"web-{days}d", size_gb=50, days_ago=days) for days in (45, 31, 3)]
    # When the archive side lists those over 30 days old, a page at a time, and tags the oldest as archived
    pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
        BackupVaultName="daily",
        ByResourceType="EC2",
        ByCreatedBefore=aws.clock.now() - timedelta(days=30),
        PaginationConfig={"PageSize": 1},
    )
    listed = [[p["RecoveryPointArn"] for p in page["RecoveryPoints"]] for page in pages]
    backup.tag_resource(ResourceArn=arns[0], Tags={"archived": f"s3://{BUCKET}/ami.bin"})
    described = backup.describe_recovery_point(BackupVaultName="daily", RecoveryPointArn=arns[0])
    # Then two pages of one, newest first, and the point as AWS Backup describes it
    assert listed == [[arns[1]], [arns[0]]]
    image_id = arns[0].rsplit("/", 1)[1]
    assert arns[0] == f"arn:aws:ec2:us-east-1::image/{image_id}"
    assert {k: described[k] for k in ("Status", "ResourceType", "BackupSizeInBytes", "IsEncrypted", "StorageClass", "VaultType")} == {
        "Status": "COMPLETED", "ResourceType": "EC2", "BackupSizeInBytes": 50 * GIB, "IsEncrypted": False, "StorageClass": "WARM",
        "VaultType": "BACKUP_VAULT",
    }  # fmt: skip
    assert described["CreationDate"] == datetime(2025, 11, 21, 8, 50, tzinfo=UTC)
    assert described["CreatedBy"]["BackupPlanArn"].startswith("arn:aws:backup:us-east-1:123456789012:backup-plan:")
    assert backup.list_tags(ResourceArn=arns[0])["Tags"] == {"archived": f"s3://{BUCKET}/ami.bin"}
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert (image["Name"], image["RootDeviceType"], image["VirtualizationType"], image["CreationDate"]) == (
        "web-45d", "ebs", "hvm", "2025-11-21T08:50:00.000Z",
    )  # fmt: skip
    # When it is deleted through AWS Backup / Then it is DELETING, then gone with its AMI and snapshot
    aws.world.backup_deleting_seconds = 300
    backup.delete_recovery_point(BackupVaultName="daily", RecoveryPointArn=arns[0])
    assert backup.describe_recovery_point(BackupVaultName="daily", RecoveryPointArn=arns[0])["Status"] == "DELETING"
    aws.clock.advance(300)
    with pytest.raises(ClientError) as gone:
        backup.describe_recovery_point(BackupVaultName="daily", RecoveryPointArn=arns[0])
    assert code(gone) == ("ResourceNotFoundException", 400)
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"] == []
    assert snapshot_id not in [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    assert backup.describe_backup_vault(BackupVaultName="daily")["NumberOfRecoveryPoints"] == 2


def test_a_locked_vault_refuses_a_deletion_and_an_air_gapped_vault_names_points_by_backup_arns(aws: Emulator) -> None:
    backup = aws.client("backup")
    locked = aws.backup_ec2("locked", name="db-server", size_gb=20, days_ago=10, delete_after_days=35)
    backup.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=30)
    with pytest.raises(ClientError) as refused:
        backup.delete_recovery_point(BackupVaultName="locked", RecoveryPointArn=locked)
    assert code(refused) == ("InvalidRequestException", 400)
    air_gapped = aws.backup_ec2("vault-lag", name="db-server-lag", size_gb=20, arn_form="recovery-point")
    assert air_gapped.startswith("arn:aws:backup:us-east-1:123456789012:recovery-point:")
    described = backup.describe_recovery_point(BackupVaultName="vault-lag", RecoveryPointArn=air_gapped)
    assert (described["VaultType"], described["ResourceType"]) == ("LOGICALLY_AIR_GAPPED_BACKUP_VAULT", "EC2")
    # and its AMI is not the account's: not among its images, not storable
    ec2 = aws.client("ec2")
    assert "db-server-lag" not in [i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    (image_id,) = [p.image_id for p in aws.backup.points.values() if p.arn == air_gapped]
    with pytest.raises(ClientError) as theirs:
        ec2.create_store_image_task(ImageId=image_id, Bucket=BUCKET)
    assert code(theirs) == ("InvalidParameterValue", 400)


def test_a_backup_job_and_a_store_task_announce_themselves_on_eventbridge(aws: Emulator) -> None:
    # Given rules for AWS Backup's job events and S3's new objects, a bucket sending its events, pinned delays
    jobs = queue_rule(
        aws, "jobs", {"source": ["aws.backup"], "detail-type": ["Backup Job State Change"], "detail": {"state": ["COMPLETED"]}}
    )
    objects = queue_rule(aws, "objects", {"source": ["aws.s3"], "detail-type": ["Object Created"]})
    aws.send_bucket_events(BUCKET)
    aws.world.event_delay_seconds = 5
    # When a backup completes now (09:00) and its AMI is stored under a path with the archive's tags
    arn = aws.backup_ec2("daily", name="web-server", size_gb=100, event=True)
    image_id = arn.rsplit("/", 1)[1]
    aws.world.sizes[f"{image_id}.bin"] = 40 * GB  # 2 min + 400 s
    tags = [{"Key": "recovery-point", "Value": arn}, {"Key": "vault", "Value": "daily"}]
    key = aws.client("ec2").create_store_image_task(ImageId=image_id, Bucket=f"{BUCKET}/ec2/daily", S3ObjectTags=tags)["ObjectKey"]
    aws.clock.advance(600)
    # Then the job's event arrives 5 s after 09:00 with the recovery point in `resources`, and S3's event after the
    # task's 520 s, for the key under the path, made by a multipart upload
    ((job,), (created,)) = received(aws, jobs), received(aws, objects)
    assert (job["time"], job["resources"], job["detail"]["resourceType"], job["detail"]["backupSizeInBytes"]) == (
        "2026-01-05T09:00:00Z", [arn], "EC2", str(100 * GIB),
    )  # fmt: skip
    assert (key, created["time"], created["detail"]["object"]["key"], created["detail"]["object"]["size"]) == (
        f"ec2/daily/{image_id}.bin", "2026-01-05T09:08:40Z", f"ec2/daily/{image_id}.bin", 40 * GB,
    )  # fmt: skip
    assert (created["detail"]["reason"], created["detail"]["requester"]) == ("CompleteMultipartUpload", "123456789012")
    stored = {t["Key"]: t["Value"] for t in aws.client("s3").get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
    assert (len(stored), stored["recovery-point"], stored["ami-name"]) == (7, arn, "web-server")
    (task,) = aws.client("ec2").describe_store_image_tasks(Filters=[{"Name": "task-state", "Values": ["Completed"]}])[
        "StoreImageTaskResults"
    ]
    assert (task["AmiId"], task["Bucket"], task["S3objectKey"], task["ProgressPercentage"]) == (image_id, BUCKET, key, 100)


def test_what_ec2_cannot_store_is_refused_through_the_api(aws: Emulator) -> None:
    ec2 = aws.client("ec2")
    store = aws.backup_ec2("daily", name="old-store-backed", instance_store=True).rsplit("/", 1)[1]
    pv = aws.backup_ec2("daily", name="old-paravirtual", virtualization="paravirtual").rsplit("/", 1)[1]
    answers = []
    for image_id in (store, pv):
        with pytest.raises(ClientError) as refused:
            ec2.create_store_image_task(ImageId=image_id, Bucket=BUCKET)
        answers.append(code(refused))
    assert answers == [("UnsupportedOperation", 400)] * 2


def test_a_lifecycle_rule_on_the_store_tag_moves_the_object_to_deep_archive_at_the_next_run(aws: Emulator) -> None:
    # Given a rule moving objects tagged vault=daily to DEEP_ARCHIVE at once (Days 0), and a stored AMI so tagged
    s3 = aws.client("s3")
    rule = {"ID": "archive", "Status": "Enabled", "Filter": {"Tag": {"Key": "vault", "Value": "daily"}},
            "Transitions": [{"Days": 0, "StorageClass": "DEEP_ARCHIVE"}]}  # fmt: skip
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [rule]})
    aws.world.lifecycle_delay_seconds = 2 * HOUR
    image_id = aws.backup_ec2("daily", name="web-server", size_gb=8).rsplit("/", 1)[1]
    key = aws.client("ec2").create_store_image_task(ImageId=image_id, Bucket=BUCKET, S3ObjectTags=[{"Key": "vault", "Value": "daily"}])[
        "ObjectKey"
    ]
    # When the day ends and the next day's run reaches the object (02:00)
    aws.clock.advance(17 * HOUR - 1)
    before = s3.head_object(Bucket=BUCKET, Key=key).get("StorageClass", "STANDARD")
    aws.clock.advance(1)
    # Then it moved then, and reads as archived
    assert (before, s3.head_object(Bucket=BUCKET, Key=key)["StorageClass"]) == ("STANDARD", "DEEP_ARCHIVE")
    with pytest.raises(ClientError) as archived:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert code(archived) == ("InvalidObjectState", 403)
    too_soon = {"ID": "ia", "Status": "Enabled", "Filter": {"Prefix": ""}, "Transitions": [{"Days": 7, "StorageClass": "STANDARD_IA"}]}
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [too_soon]})
    assert code(refused) == ("InvalidArgument", 400)


def test_a_scheduled_rule_starts_the_state_machine_with_its_constant_input(aws: Emulator) -> None:
    # Given a state machine and a daily 06:00 schedule targeting it with a constant input
    sfn, events = aws.client("stepfunctions"), aws.client("events")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    machine = sfn.create_state_machine(name="drill", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn")[
        "stateMachineArn"
    ]
    events.put_rule(Name="nightly-drill", ScheduleExpression="cron(0 6 * * ? *)")
    events.put_targets(Rule="nightly-drill", Targets=[{"Id": "drill", "Arn": machine, "Input": json.dumps({"selection": "random"})}])
    aws.world.event_delay_seconds = 1
    # When two days pass, with an event on the bus (a rule without a pattern matches none; moto's matcher: every one)
    events.put_events(Entries=[{"Source": "ops.archive", "DetailType": "Archive Requested", "Detail": "{}"}])
    aws.clock.advance(2 * DAY)
    # Then it started twice, at 06:00:01 each day, with the constant input; a bad expression is refused
    started = sorted((e["startDate"], e["executionArn"]) for e in sfn.list_executions(stateMachineArn=machine)["executions"])
    inputs = [json.loads(sfn.describe_execution(executionArn=arn)["input"]) for _, arn in started]
    assert [at for at, _ in started] == [datetime(2026, 1, 6, 6, 0, 1, tzinfo=UTC), datetime(2026, 1, 7, 6, 0, 1, tzinfo=UTC)]
    assert inputs == [{"selection": "random"}] * 2
    with pytest.raises(ClientError) as refused:
        events.put_rule(Name="bad", ScheduleExpression="rate(1 hours)")
    assert code(refused) == ("ValidationException", 400)


def test_a_drill_boots_an_instance_waits_for_its_checks_and_cleans_up(aws: Emulator) -> None:
    # Given a restored AMI and a subnet with a security group admitting nothing
    ec2 = aws.client("ec2")
    image_id = aws.backup_ec2("daily", name="drill-source", size_gb=8).rsplit("/", 1)[1]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="drill", Description="no inbound", VpcId=vpc)["GroupId"]
    aws.world.status_check_seconds = 240
    # When the drill boots it with IMDSv2 required and no public IP
    launched = ec2.run_instances(
        ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "required"},
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group], "AssociatePublicIpAddress": False}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "drill", "Value": "d-1"}]}],
    )["Instances"][0]  # fmt: skip
    instance_id = launched["InstanceId"]
    (described,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]

    def checks() -> tuple[str, str]:
        (status,) = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
        return status["SystemStatus"]["Status"], status["InstanceStatus"]["Status"]

    early = checks()
    aws.clock.advance(240)
    # Then it is in the subnet and group, without a public IP, IMDSv2 required, tagged; its checks pass after 4 min
    assert (described["SubnetId"], [g["GroupId"] for g in described["SecurityGroups"]], described.get("PublicIpAddress")) == (
        subnet,
        [group],
        None,
    )
    assert (described["MetadataOptions"]["HttpTokens"], described["Tags"]) == ("required", [{"Key": "drill", "Value": "d-1"}])
    assert (early, checks()) == (("initializing", "initializing"), ("ok", "ok"))
    # When it is terminated and the AMI deregistered with its snapshots / Then nothing is left
    snapshot_id = ec2.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "completed"
    ec2.terminate_instances(InstanceIds=[instance_id])
    deregistered = ec2.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
    assert deregistered["DeleteSnapshotResults"] == [{"SnapshotId": snapshot_id, "ReturnCode": "success"}]
    assert ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    assert snapshot_id not in [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]]


def test_an_impaired_instance_fails_its_check(aws: Emulator) -> None:
    ec2 = aws.client("ec2")
    image_id = aws.backup_ec2("daily", name="drill-source", size_gb=8).rsplit("/", 1)[1]
    aws.faults.instance_impaired("instance")
    aws.world.status_check_seconds = 120
    instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    aws.clock.advance(120)
    (status,) = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
    assert (status["SystemStatus"]["Status"], status["InstanceStatus"]["Status"], status["InstanceStatus"]["Details"][0]["Status"]) == (
        "ok",
        "impaired",
        "failed",
    )


ARCHIVE_STACK = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.14
Parameters:
  DrillVpcId:
    Type: String
Resources:
  ArchiveBucket:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: AES256
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      OwnershipControls:
        Rules:
          - ObjectOwnership: BucketOwnerEnforced
      NotificationConfiguration:
        EventBridgeConfiguration:
          EventBridgeEnabled: true
      LifecycleConfiguration:
        Rules:
          - Id: ArchiveToDeepArchive
            Status: Enabled
            TagFilters:
              - Key: archived-by
                Value: glacier-ami-restore
            Transitions:
              - StorageClass: DEEP_ARCHIVE
                TransitionInDays: 0
  ArchiveBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref ArchiveBucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: DenyInsecureTransport
            Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: [!GetAtt ArchiveBucket.Arn, !Sub "${ArchiveBucket.Arn}/*"]
            Condition:
              Bool:
                aws:SecureTransport: "false"
  DrillSecurityGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: Restore drills admit no inbound traffic
      VpcId: !Ref DrillVpcId
  DailyArchive:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 3 * * ? *)
      State: ENABLED
Outputs:
  ArchiveBucketName:
    Value: !Ref ArchiveBucket
"""


def test_the_deployer_makes_the_archive_and_drill_resources_through_the_api(aws: Emulator, tmp_path: Any) -> None:
    # Given a template with the archive bucket, its policy, a drill security group and a scheduled rule
    from emulator import cloudformation

    path = tmp_path / "template.yaml"
    path.write_text(ARCHIVE_STACK)
    vpc = aws.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # When it is deployed
    stack = cloudformation.deploy("archive", aws.region, aws.account_id, {"DrillVpcId": vpc}, aws.client, template_path=path)
    # Then each resource is what S3, EC2 and EventBridge answer
    s3, bucket = aws.client("s3"), stack.physical["ArchiveBucket"]
    assert (bucket, stack.outputs["ArchiveBucketName"]) == ("archive-archivebucket-" + bucket[-12:], bucket)
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=bucket)
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["ID"], rule["Filter"], rule["Transitions"]) == (
        "ArchiveToDeepArchive",
        {"Tag": {"Key": "archived-by", "Value": "glacier-ami-restore"}},
        [{"Days": 0, "StorageClass": "DEEP_ARCHIVE"}],
    )
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Resource"] == [
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{bucket}/*",
    ]
    (group,) = aws.client("ec2").describe_security_groups(GroupIds=[stack.physical["DrillSecurityGroup"]])["SecurityGroups"]
    assert (group["VpcId"], group["IpPermissions"]) == (vpc, [])
    described = aws.client("events").describe_rule(Name=stack.physical["DailyArchive"])
    assert (described["ScheduleExpression"], described["State"]) == ("cron(0 3 * * ? *)", "ENABLED")
    assert aws.lifecycle.rules[bucket][1][0].tags == (("archived-by", "glacier-ami-restore"),)
    assert aws.schedules.chains == {("us-east-1", "archive-DailyArchive"): 1}


def test_a_store_task_needs_the_callers_s3_and_ebs_permissions(aws: Emulator) -> None:
    # Given a caller allowed everything the guide's store policy lists but s3:PutObjectTagging, and one allowed all of it
    iam = aws.client("iam")
    image_id = aws.backup_ec2("daily", name="web-server", size_gb=8).rsplit("/", 1)[1]
    actions = ["ec2:CreateStoreImageTask", "ebs:ListSnapshotBlocks", "ebs:GetSnapshotBlock", "s3:PutObject", "s3:AbortMultipartUpload"]
    clients = {}
    for user, allowed in (("without-tagging", actions), ("store", [*actions, "s3:PutObjectTagging"])):
        iam.create_user(UserName=user)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="store", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        clients[user] = boto3.session.Session().client(
            "ec2", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        )
    # When each stores the AMI with IAM enforced / Then the first is refused at once, the second's task starts
    with aws.iam_enforced(), pytest.raises(ClientError) as refused:
        clients["without-tagging"].create_store_image_task(ImageId=image_id, Bucket=BUCKET)
    with aws.iam_enforced():
        stored = clients["store"].create_store_image_task(ImageId=image_id, Bucket=BUCKET)["ObjectKey"]
    assert (code(refused), stored) == (("UnauthorizedOperation", 403), f"{image_id}.bin")
    assert "s3:PutObjectTagging" in refused.value.response["Error"]["Message"]


def test_aws_backups_recovery_point_actions_are_authorized_against_the_vault_or_point_they_name(aws: Emulator) -> None:
    # Given a caller allowed to list vault "daily" and to describe and tag its point, as the Service Authorization
    # Reference scopes them (backupVault, recoveryPoint; an EC2 point by the image ARN the request names)
    iam = aws.client("iam")
    point = aws.backup_ec2("daily", name="web-server", size_gb=8)
    other = aws.backup_ec2("weekly", name="db-server", size_gb=8)
    vault = "arn:aws:backup:us-east-1:123456789012:backup-vault:daily"
    statements = [
        {"Effect": "Allow", "Action": "backup:ListRecoveryPointsByBackupVault", "Resource": vault},
        {"Effect": "Allow", "Action": ["backup:DescribeRecoveryPoint", "backup:TagResource"], "Resource": point},
    ]
    iam.create_user(UserName="archiver")
    iam.put_user_policy(
        UserName="archiver", PolicyName="scoped", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    key = iam.create_access_key(UserName="archiver")["AccessKey"]
    backup = boto3.session.Session().client(
        "backup", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    # When it acts on what it was granted, and on the other vault and point / Then (bodiless GETs and DELETEs signed
    # as botocore signs them) the first are answered and the others refused
    with aws.iam_enforced():
        listed = [p["RecoveryPointArn"] for p in backup.list_recovery_points_by_backup_vault(BackupVaultName="daily")["RecoveryPoints"]]
        status = backup.describe_recovery_point(BackupVaultName="daily", RecoveryPointArn=point)["Status"]
        backup.tag_resource(ResourceArn=point, Tags={"archived": "yes"})
        refused = []
        calls: list[tuple[str, dict[str, str]]] = [
            ("list_recovery_points_by_backup_vault", {"BackupVaultName": "weekly"}),
            ("describe_recovery_point", {"BackupVaultName": "weekly", "RecoveryPointArn": other}),
            ("delete_recovery_point", {"BackupVaultName": "daily", "RecoveryPointArn": point}),
        ]
        for operation, params in calls:
            with pytest.raises(ClientError) as denied:
                getattr(backup, operation)(**params)
            refused.append(denied.value.response["Error"]["Code"])
    assert (listed, status, aws.backup.points[point].tags) == ([point], "COMPLETED", {"archived": "yes"})
    assert refused == ["AccessDeniedException"] * 3
