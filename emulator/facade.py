"""The facade: one emulated AWS account on a virtual clock, what the tests, the demo, the benchmark and the server open.

    with Emulator(seed=7) as aws:
        stack = aws.deploy()
        key = aws.archive_ami("web-server", "my-archive", "DEEP_ARCHIVE", size_gb=120)
        run = aws.run(stack, {"recoveryPoint": key, "recoveryPointBucket": "my-archive"})
        run.status, run.output["imageId"], run.emails

Everything the emulator knows lives on this object: the world (emulator/world: sizes and timings, the S3 and EC2
models, the bus, the faults, the clock), the request counts and the deployed functions. moto's per-account backends
point back to it (emulator/adapters/registry.py), so two emulators with different account ids share nothing but what
the process has only once (emulator/adapters/process.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import boto3

from emulator import cloudformation
from emulator.adapters import awslambda, backends, process, registry, serving, speed
from emulator.adapters.backends import DEFAULT_ACCOUNT_ID
from emulator.adapters.backup import MotoVaults
from emulator.adapters.ec2 import MotoImages
from emulator.adapters.events import MotoRouter
from emulator.adapters.install import install
from emulator.adapters.registry import Credentials
from emulator.adapters.s3 import MotoObjects
from emulator.adapters.waits import bind_clock
from emulator.world.awslambda import DeployedFunction
from emulator.world.backup import BackupModel
from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.ec2 import EC2Model
from emulator.world.events import EventBus
from emulator.world.facts import GB, GIB
from emulator.world.faults import Faults
from emulator.world.lifecycle import LifecycleModel
from emulator.world.s3 import S3Model
from emulator.world.schedule import Scheduler

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LAMBDA_ROLE = "ami-archive-role"
USER_EMAIL = "ops@example.com"
FAKE_KEY = "testing"
ARCHIVED_DAYS_AGO = 120  # the archive side stored the sample AMIs about four months before the restore
# ASSUMPTION: what AWS Backup's EC2 AMIs carry (the console shows this description) and how long a job takes.
BACKUP_IMAGE_DESCRIPTION = "This image is created by the AWS Backup service."
BACKUP_JOB_MINUTES = 10
BACKUP_ROLE = "AWSBackupDefaultServiceRole"
# ASSUMPTION: the account AWS Backup keeps a logically air-gapped vault's EC2 backups in (logicallyairgappedvault: the
# recovery points are `arn:aws:backup:` ones, not the account's AMIs); any account but the emulated one would do.
AIR_GAPPED_OWNER = "999999999999"


def _client(service: str, region: str, key: str, secret: str, token: str | None, endpoint: str | None = None) -> Any:
    """Clients hold no emulator state (moto intercepts them per account): one per service, Region and credentials
    serves every emulator in the process (remembered, with one session for its cache of botocore's service models)."""
    models = speed.remember("boto3-session", "models", boto3.session.Session)
    make: Any = models.client  # any service by name (the stubs type each literal name)

    def made() -> Any:
        return make(
            service, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, endpoint_url=endpoint
        )

    return speed.remember("client", (service, region, key, secret, token, endpoint), made, keep=128)


def trust_lambda(iam_client: Any) -> None:
    """An existing role for the stack's optional LambdaExecutionRoleName (the archive side made it); without that
    parameter the stack creates its own."""
    trust = {"Service": "lambda.amazonaws.com"}
    iam_client.create_role(
        RoleName=LAMBDA_ROLE,
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": trust, "Action": "sts:AssumeRole"}]}
        ),
    )


@dataclass
class Run:
    """A finished execution, with what the operator would see."""

    arn: str
    status: str
    error: str | None
    cause: str | None
    output: dict[str, Any]  # empty when the execution produced none (a failure)
    history: list[dict[str, Any]]
    emails: list[dict[str, str]]
    started: datetime
    stopped: datetime

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def count(self, state: str) -> int:
        return self.states_entered().count(state)

    def entered_at(self, state: str) -> datetime | None:
        """When the state was first entered (None if it never was)."""
        found = [e["timestamp"] for e in self.history if e.get("stateEnteredEventDetails", {}).get("name") == state]
        return found[0] if found else None


def as_the_api_answers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History events from the backend as GetExecutionHistory answers them through boto3 (names for the enums, the
    timestamps parsed, no empty fields), without moto's serializer: it takes 80 ms for a restore's 160 events, a
    sixth of the run. tests/emulator/test_history.py compares the two."""

    def answer(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: answer(v, k) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [answer(v) for v in value]
        if isinstance(value, Enum):
            return value.value
        if key == "timestamp" and isinstance(value, str):
            return datetime.fromisoformat(value)
        return value

    return [answer(event) for event in events]


class Emulator:
    def __init__(
        self,
        region: str = "us-east-1",
        start: datetime = DEFAULT_START,
        seed: int = 0,
        account_id: str = DEFAULT_ACCOUNT_ID,
        clock: VirtualClock | None = None,
    ) -> None:
        """`clock`: another emulator's, to run beside it (the process has one time; everything else stays apart)."""
        self.region = region
        self.account_id = account_id
        self.clock = clock or VirtualClock(start)
        self.world = World(seed=seed)
        self.faults = Faults()
        router = MotoRouter(account_id, self._invoke_async, self._start_by_event)
        self.eventbridge = EventBus(self.world, self.clock, account_id, router)
        objects = MotoObjects(account_id)
        self.s3 = S3Model(self.world, self.clock, objects, self.eventbridge, account_id, region)
        self.lifecycle = LifecycleModel(self.world, self.clock, objects, self.s3)
        self.ec2 = EC2Model(
            self.world, self.clock, self.s3, MotoImages(account_id), account_id, self.eventbridge, take_image_fault=self.faults.take_image,
            take_store_fault=self.faults.take_store, take_instance_fault=self.faults.take_instance,
        )  # fmt: skip
        self.backup = BackupModel(self.world, self.clock, self.ec2, MotoVaults(account_id), account_id, self.eventbridge)
        self.schedules = Scheduler(self.clock, self.eventbridge, router)
        self.requests: Counter[str] = Counter()  # "s3.HeadObject": HTTP requests sent, SDK retries included
        self.functions: dict[str, DeployedFunction] = {}
        # with IAM enforced: the credentials of each state machine's role (its ARN), as which its executions act
        self.invokers: dict[str, Credentials] = {}
        self.runtime_writes: list[tuple[str, str, bool]] = []  # (function, action, allowed) the Lambda runtime tried
        self.credentials = {"AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_KEY}
        self._mock = backends.MockSession()
        self._saved_env: dict[str, str | None] = {}
        self._server: serving.Server | None = None
        self._enforced = False
        self._deployments = 0
        self._backup_plan: dict[str, str] | None = None
        self._instances = 0

    # --- lifecycle --------------------------------------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        install()
        process.drive_time(self.clock)  # first: a process whose time another clock drives refuses before anything starts
        self._mock.start(self.world.seed)
        registry.bind(self.account_id, self)
        if self.account_id != DEFAULT_ACCOUNT_ID:  # keys that moto maps to this account
            self.credentials = backends.account_keys(self.account_id, self.region)
        variables = {**self.credentials, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        self._saved_env = {k: os.environ.get(k) for k in [*variables, "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]}
        for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(variables)
        bind_clock(self.clock)
        trust_lambda(self.client("iam"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
        if self._enforced:
            process.enforce_iam(False)
        bind_clock(None)
        process.forget_finished_threads()
        process.release_time(self.clock)
        registry.bind(self.account_id, None)
        self._mock.stop()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def _invoke_async(self, function_name: str, event: Any) -> None:
        awslambda.invoke_async(self, function_name, event)

    def _start_by_event(self, state_machine_arn: str, payload: str) -> None:
        self.client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, input=payload)

    def serve(self, port: int) -> str:
        """Also answer over HTTP on 127.0.0.1 (the AWS CLI, the command line, any SDK with AWS_ENDPOINT_URL): moto's
        server app, with emulator/adapters/serving.py's savings for listings."""
        self._server = serving.serve(self, port)
        return self._server.endpoint

    def client(self, service: str, endpoint: str | None = None) -> Any:
        c = self.credentials
        return _client(service, self.region, c["AWS_ACCESS_KEY_ID"], c["AWS_SECRET_ACCESS_KEY"], c.get("AWS_SESSION_TOKEN"), endpoint)

    def deploy(self, stack_name: str = "glacier-ami-restore", **parameters: str) -> cloudformation.Stack:
        """The stack with its own functions' role; `deploy(LambdaExecutionRoleName=LAMBDA_ROLE)` uses the existing one."""
        # ArchiveBucketName has no default (an operator names the buckets): the tests archive into buckets of their own, so
        # they allow any bucket of the account, as an operator may on purpose; a test that means one bucket names it.
        values = {"UserEmail": USER_EMAIL, "ArchiveBucketName": "*", **parameters}
        # CloudFormation draws a UUID for each stack's id: here one from the stack's name and the deployments before it.
        stack_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account_id}:{self.region}:{stack_name}:{self._deployments}"))
        # moto's SQS, as SQS, answers a queue's URL with the host the request went to: while serving, the queues are made
        # through the server, so the stack's outputs (FailedExecutionQueueUrl) name it, not sqs.<region>.amazonaws.com.
        served = self._server.endpoint if self._server is not None else None

        def client(service: str) -> Any:
            return self.client(service, served if service == "sqs" else None)

        stack = cloudformation.deploy(
            stack_name, self.region, self.account_id, values, client, function_environment=self.credentials, stack_uuid=stack_uuid
        )
        self.functions.update({f.name: f for f in stack.functions.values()})
        # Every resource the deployment made drew ids from moto's seeded random. Whatever is made next (the AMIs a test
        # archives, so their object keys, so the world's draws for them) must not depend on how many resources the
        # template has: the draws start again from the seed, the stack's name and how many stacks came before.
        self._deployments += 1
        backends.reseed(f"{self.world.seed}:deployed:{stack_name}:{self._deployments}")
        return stack

    def function_role(self, stack: cloudformation.Stack) -> str:
        """The ARN of the role the stack's functions run as, as Lambda answered their creation (one role for all)."""
        (role,) = {f.role_arn for f in stack.functions.values()}
        return role

    def enforce_iam(self, stack: cloudformation.Stack) -> None:
        """From now on IAM decides, as on AWS: each handler acts as its function's role (the restore functions' and the
        archive functions', with the policies template.yaml attaches to them), each state machine's executions act as
        its own role, EventBridge as each rule target's role, and this harness as an administrator."""
        iam_client, sts = self.client("iam"), self.client("sts")
        iam_client.create_user(UserName="operator")
        admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam_client.put_user_policy(UserName="operator", PolicyName="admin", PolicyDocument=json.dumps(admin))
        key = iam_client.create_access_key(UserName="operator")["AccessKey"]

        def assume(role_arn: str) -> dict[str, str]:
            found: dict[str, str] = sts.assume_role(RoleArn=role_arn, RoleSessionName="emulated")["Credentials"]
            return found

        roles = {arn: assume(arn) for arn in sorted({f.role_arn for f in stack.functions.values()})}
        for function in stack.functions.values():
            role = roles[function.role_arn]
            function.environment = {
                **function.environment, "AWS_ACCESS_KEY_ID": role["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": role["SecretAccessKey"], "AWS_SESSION_TOKEN": role["SessionToken"],
                "AWS_SECURITY_TOKEN": role["SessionToken"],  # botocore reads this older name first
            }  # fmt: skip
            function.module = awslambda.load_handler(function.source, f"{function.name}.as-role", function.environment)
        for lid in ("RestoreStateMachineRole", "BatchRestoreStateMachineRole", "DrillStateMachineRole", "ArchiveStateMachineRole"):
            if lid in stack.attributes:  # each state machine acts as its own role (the archive's when archiving is on)
                invoker = assume(stack.attributes[lid]["Arn"])
                self.invokers[stack.attributes[lid]["Arn"]] = (invoker["AccessKeyId"], invoker["SessionToken"])
        events = self.client("events")
        for page in events.get_paginator("list_rules").paginate():
            for rule in page["Rules"]:  # EventBridge acts as a target's role, where the target names one
                for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                    if target.get("RoleArn") and target["RoleArn"] not in self.invokers:
                        invoker = assume(target["RoleArn"])
                        self.invokers[target["RoleArn"]] = (invoker["AccessKeyId"], invoker["SessionToken"])
        self.credentials = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        os.environ.update(self.credentials)
        self._enforced = True
        process.enforce_iam(True)

    @contextlib.contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """IAM decides for the calls made inside, whoever makes them (the account's users and roles; the harness's own
        fake keys are refused meanwhile): a test of one caller's permissions without a deployed stack."""
        process.enforce_iam(True)
        try:
            yield
        finally:
            process.enforce_iam(self._enforced)

    # --- the archive side, as the operator's backup process left it -------------------------------------------------

    def archive_ami(
        self,
        name: str,
        bucket: str,
        storage_class: str,
        archive_status: str | None = None,
        size_gb: float | None = None,
        archived_days_ago: float = ARCHIVED_DAYS_AGO,
    ) -> str:
        """As the archive side did, `archived_days_ago`: register an AMI, store it into the bucket
        (CreateStoreImageTask), deregister it, and let the lifecycle rule move the object to its class."""
        s3_client, ec2_client = self.client("s3"), self.client("ec2")
        if bucket not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]:
            s3_client.create_bucket(Bucket=bucket)
        image_id = ec2_client.register_image(Name=name, Description=f"{name} backup")["ImageId"]
        if size_gb is not None:
            self.world.sizes[f"{image_id}.bin"] = int(size_gb * GB)
        key = self.ec2.store_image(self.region, image_id, bucket, {}, started_at=self.clock.now() - timedelta(days=archived_days_ago))
        ec2_client.deregister_image(ImageId=image_id)
        if storage_class != "STANDARD":
            self.s3.history.add((bucket, key))  # the copy stands for a transition long ago: no Object Created now
            try:
                s3_client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, StorageClass=storage_class)
            finally:
                self.s3.history.discard((bucket, key))
        if archive_status:
            self.s3.archive_status[(bucket, key)] = archive_status
        return key

    def backup_ec2(
        self,
        vault: str,
        *,
        name: str,
        size_gb: float = 8,
        days_ago: float = 0,
        arn_form: str = "image",
        instance_store: bool = False,
        virtualization: str = "hvm",
        encrypted: bool = False,
        delete_after_days: int | None = None,
        plan_id: str | None = None,
        event: bool = False,
    ) -> str:
        """A recovery point as a backup plan's job leaves it, `days_ago`: the vault (created if missing), an AMI named
        `name` registered with its root volume's snapshot (`size_gb`), and the EC2 recovery point over it, COMPLETED.
        `arn_form` "recovery-point" makes the vault logically air-gapped: its points have backup ARNs, and their AMI
        and snapshots are not the account's (AWS Backup keeps them; no API of the account names the AMI). `event`
        emits `Backup Job State Change` (at AWS Backup's next 5-minute mark). The recovery point's ARN."""
        if arn_form not in ("image", "recovery-point"):
            raise ValueError(f"arn_form: 'image' or 'recovery-point', not {arn_form!r}")
        backup, ec2 = self.client("backup"), self.client("ec2")
        if vault not in [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]:
            backup.create_backup_vault(BackupVaultName=vault)
        air_gapped = (self.region, vault) in self.backup.air_gapped
        if (arn_form == "recovery-point") != air_gapped and any(p.vault == vault for p in self.backup.points.values()):
            raise ValueError(f"vault {vault} already holds {'recovery-point' if air_gapped else 'image'} ARNs")
        if arn_form == "recovery-point":
            self.backup.air_gapped.add((self.region, vault))
        else:
            self.backup.air_gapped.discard((self.region, vault))
        created = self.clock.now() - timedelta(days=days_ago, minutes=BACKUP_JOB_MINUTES)
        gib = max(1, math.ceil(size_gb))
        if instance_store:
            mappings: list[dict[str, Any]] = [{"DeviceName": "/dev/sda1", "VirtualName": "ephemeral0"}]
        else:
            volume = ec2.create_volume(Size=gib, AvailabilityZone=f"{self.region}a", Encrypted=encrypted)["VolumeId"]
            snapshot = ec2.create_snapshot(VolumeId=volume, Description=f"Created by AWS Backup for {name}")["SnapshotId"]
            ec2.delete_volume(VolumeId=volume)
            ebs = {"SnapshotId": snapshot, "VolumeSize": gib, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": encrypted}
            mappings = [{"DeviceName": "/dev/xvda", "Ebs": ebs}]
        root = mappings[0]["DeviceName"]
        image_id = ec2.register_image(
            Name=name, Description=BACKUP_IMAGE_DESCRIPTION, RootDeviceName=root, VirtualizationType=virtualization,
            Architecture="x86_64", BlockDeviceMappings=mappings,
        )["ImageId"]  # fmt: skip
        backends.backup_image(self.account_id, self.region, image_id, created, AIR_GAPPED_OWNER if arn_form == "recovery-point" else None)
        point = self.backup.record_ec2(
            self.region, vault, image_id, self._instance_id(), created, 0 if instance_store else gib * GIB,
            encrypted=encrypted, lifecycle={"DeleteAfterDays": delete_after_days} if delete_after_days is not None else {},
            created_by=self._plan(plan_id), iam_role_arn=f"arn:aws:iam::{self.account_id}:role/service-role/{BACKUP_ROLE}",
            job_minutes=BACKUP_JOB_MINUTES,
        )  # fmt: skip
        if event:
            self.backup.announce(point)
        return point.arn

    def _instance_id(self) -> str:
        """The backed-up instance: an id only (it may be long gone)."""
        self._instances += 1
        draw = random.Random(f"{self.world.seed}:instance:{self._instances}").getrandbits(68)  # noqa: S311 - ids for a simulation
        return f"i-{draw:017x}"

    def _plan(self, plan_id: str | None) -> dict[str, str]:
        """CreatedBy of the plan's recovery points (a daily plan made once when none is named)."""
        backup = self.client("backup")
        if plan_id is None:
            if self._backup_plan is not None:
                return self._backup_plan
            rule = {"RuleName": "daily", "TargetBackupVaultName": "Default", "ScheduleExpression": "cron(0 5 ? * * *)"}
            plan_id = backup.create_backup_plan(BackupPlan={"BackupPlanName": "ec2-daily", "Rules": [rule]})["BackupPlanId"]
        plan = backup.get_backup_plan(BackupPlanId=plan_id)
        created_by = {"BackupPlanId": plan["BackupPlanId"], "BackupPlanArn": plan["BackupPlanArn"], "BackupPlanVersion": plan["VersionId"],
                      "BackupRuleId": plan["BackupPlan"]["Rules"][0]["RuleId"]}  # fmt: skip
        if self._backup_plan is None:
            self._backup_plan = created_by
        return created_by

    def send_bucket_events(self, bucket: str) -> None:
        """As the archive side did long ago: turn on the bucket's EventBridge notifications (read-modify-write, as
        PutBucketNotificationConfiguration replaces the whole configuration), already in effect."""
        s3_client = self.client("s3")
        configuration = s3_client.get_bucket_notification_configuration(Bucket=bucket)
        configuration.pop("ResponseMetadata", None)
        s3_client.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={**configuration, "EventBridgeConfiguration": {}}
        )
        self.s3.eventbridge_since[bucket] = self.clock.now()  # long ago: in effect already

    # --- executions -------------------------------------------------------------------------------------------------

    def start(self, stack: cloudformation.Stack, payload: Any, name: str | None = None) -> str:
        """StartExecution as the console or CLI sends it; without a name AWS (and the emulator) picks a UUID."""
        kwargs = {"name": name} if name else {}
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=stack.state_machine_arn, input=json.dumps(payload), **kwargs
        )["executionArn"]
        return arn

    def wait(self, stack: cloudformation.Stack, arn: str, timeout: float = 60) -> Run:
        # Watched on the backend (a DescribeExecution costs milliseconds of moto's serializer), then described once.
        execution = backends.execution(self.account_id, self.region, arn)
        deadline = time.monotonic() + timeout
        while backends.is_running(execution):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arn} still RUNNING after {timeout} real seconds")
            time.sleep(0.005)
        backends.announced(execution, max(0.0, deadline - time.monotonic()))  # its end event scheduled before time moves on
        described = self.client("stepfunctions").describe_execution(executionArn=arn)
        return Run(
            arn=arn,
            status=described["status"],
            error=described.get("error"),
            cause=described.get("cause"),
            output=json.loads(described["output"]) if described.get("output") else {},
            history=as_the_api_answers(self.events(arn)),
            emails=self.emails(stack, arn),
            started=described["startDate"],
            stopped=described["stopDate"],
        )

    def run(self, stack: cloudformation.Stack, payload: Any, name: str | None = None) -> Run:
        return self.wait(stack, self.start(stack, payload, name))

    def history(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events, token = [], None
        while True:
            page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events

    def events(self, arn: str) -> list[dict[str, Any]]:
        """The execution's history straight from the emulator (no API serialization: fast for 25,000 events); in the
        API's form with as_the_api_answers."""
        return backends.events(backends.execution(self.account_id, self.region, arn))

    def emails(self, stack: cloudformation.Stack, execution_arn: str | None = None) -> list[dict[str, str]]:
        """Messages published to the stack's topic (what the subscribed address receives), oldest first."""
        sent = backends.sent_messages(self.account_id, self.region, stack.topic_arn)
        return [{"subject": s, "message": m} for s, m in sent if execution_arn is None or execution_arn in m]
