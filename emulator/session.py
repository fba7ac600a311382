"""One emulated AWS account on the virtual clock: what the demo, the end-to-end tests and the benchmark open.

with Emulator() as aws:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", "my-archive", "DEEP_ARCHIVE")
    run = aws.run(stack, {"recoveryPoint": key, "recoveryPointBucket": "my-archive"})
    run.status, run.output["imageId"], run.emails
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws, settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from emulator import aws as emulated_aws
from emulator import runtime
from emulator import stack as stacks
from emulator.clock import VirtualClock

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LAMBDA_ROLE = "ami-archive-role"
USER_EMAIL = "ops@example.com"


@functools.lru_cache(maxsize=32)
def _client(service: str, region: str) -> Any:
    """moto intercepts a client whichever mock session is active: one per service serves every session."""
    return boto3.session.Session().client(service, region_name=region)  # a new session reads the current credentials


def trust_lambda(iam: Any) -> None:
    """The existing role the stack's LambdaExecutionRoleName names (the archive side made it)."""
    iam.create_role(
        RoleName=LAMBDA_ROLE,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
        ),
    )


def archive_ami(s3: Any, ec2: Any, name: str, bucket: str, storage_class: str, archive_status: str | None = None) -> str:
    """As the archive side does: register an AMI, CreateStoreImageTask it into the bucket, deregister it, and let the
    lifecycle rule move the object to its class (a copy onto itself, keeping the tags)."""
    image_id = ec2.register_image(Name=name, Description=f"{name} backup")["ImageId"]
    key: str = ec2.create_store_image_task(ImageId=image_id, Bucket=bucket)["ObjectKey"]
    ec2.deregister_image(ImageId=image_id)
    if storage_class != "STANDARD":
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, StorageClass=storage_class)
    if archive_status:
        emulated_aws.set_archive_status(s3_backends[stacks.ACCOUNT]["aws"].get_object(bucket, key), archive_status)
    return key


@dataclass
class Run:
    """A finished execution, with what the operator would see."""

    arn: str
    status: str
    error: str | None
    cause: str | None
    output: dict[str, Any] | None
    history: list[dict[str, Any]]
    emails: list[dict[str, str]]
    started: datetime
    stopped: datetime

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def count(self, state: str) -> int:
        return self.states_entered().count(state)


class Emulator:
    def __init__(self, region: str = "us-east-1", start: datetime = DEFAULT_START) -> None:
        self.region = region
        self.clock = VirtualClock(start)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
        self._saved_env: dict[str, str | None] = {}
        self._enforced = False

    def __enter__(self) -> Emulator:
        variables = {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        self._saved_env = {k: os.environ.get(k) for k in [*variables, "AWS_ENDPOINT_URL"]}
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ.update(variables)
        emulated_aws.install()
        runtime.install()
        emulated_aws.reset()
        runtime.lambda_faults.clear()
        self._mock.start()
        self.clock.__enter__()
        runtime.use_clock(self.clock)
        trust_lambda(self.client("iam"))
        return self

    def enforce_iam(self, stack: stacks.Stack) -> None:
        """From now on IAM decides, as on AWS: the handlers act as the Lambda role (with the policies template.yaml
        attached to it), the state machine invokes them as its own role, and this harness acts as an administrator."""
        iam, sts = self.client("iam"), self.client("sts")
        iam.create_user(UserName="operator")
        admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="operator", PolicyName="admin", PolicyDocument=json.dumps(admin))
        key = iam.create_access_key(UserName="operator")["AccessKey"]

        def assume(role_arn: str) -> dict[str, str]:
            found: dict[str, str] = sts.assume_role(RoleArn=role_arn, RoleSessionName="emulated")["Credentials"]
            return found

        role = assume(f"arn:aws:iam::{stacks.ACCOUNT}:role/{LAMBDA_ROLE}")
        for function in stack.functions.values():
            function.environment = {
                **function.environment, "AWS_ACCESS_KEY_ID": role["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": role["SecretAccessKey"], "AWS_SESSION_TOKEN": role["SessionToken"],
                "AWS_SECURITY_TOKEN": role["SessionToken"],  # botocore reads this older name first
            }  # fmt: skip
            function.module = runtime.load_handler(function.source, f"{function.name}.as-role", function.environment)
        invoker = assume(stack.attributes["RestoreStateMachineRole"]["Arn"])
        runtime.invoker_credentials = (invoker["AccessKeyId"], invoker["SessionToken"])
        os.environ.update({"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_SECURITY_TOKEN", None)
        _client.cache_clear()
        self._enforced = True
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0

    def __exit__(self, *exc: object) -> None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        runtime.invoker_credentials = None
        runtime.runtime_writes.clear()
        if self._enforced:  # the cached clients carry the administrator's keys
            _client.cache_clear()
        runtime.use_clock(None)
        self.clock.__exit__()
        self._mock.stop()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    @property
    def behaviour(self) -> emulated_aws.Behaviour:
        return emulated_aws.behaviour

    def client(self, service: str) -> Any:
        return _client(service, self.region)

    def deploy(self, stack_name: str = "glacier-ami-restore", **parameters: str) -> stacks.Stack:
        values = {"LambdaExecutionRoleName": LAMBDA_ROLE, "UserEmail": USER_EMAIL, **parameters}
        return stacks.deploy(stack_name, self.region, values)

    # --- the archive side, as the operator's backup process left it -------------------------------------------------

    def archive_ami(self, name: str, bucket: str, storage_class: str, archive_status: str | None = None) -> str:
        s3 = self.client("s3")
        if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=bucket)
        return archive_ami(s3, self.client("ec2"), name, bucket, storage_class, archive_status)

    # --- executions -------------------------------------------------------------------------------------------------

    def start(self, stack: stacks.Stack, payload: Any, name: str | None = None) -> str:
        kwargs = {"name": name or str(uuid.uuid4())}
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=stack.state_machine_arn, input=json.dumps(payload), **kwargs
        )["executionArn"]
        return arn

    def wait(self, stack: stacks.Stack, arn: str, timeout: float = 60) -> Run:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arn} still RUNNING after {timeout} real seconds")
            time.sleep(0.02)
        return Run(
            arn=arn,
            status=described["status"],
            error=described.get("error"),
            cause=described.get("cause"),
            output=json.loads(described["output"]) if described.get("output") else None,
            history=self.history(arn),
            emails=self.emails(stack, arn),
            started=described["startDate"],
            stopped=described["stopDate"],
        )

    def run(self, stack: stacks.Stack, payload: Any, name: str | None = None) -> Run:
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
        """The execution's history straight from the emulator (no API serialization: fast for 25,000 events)."""
        backend = stepfunctions_parser_backends[stacks.ACCOUNT][self.region]
        execution = next(e for e in backend._get_executions() if e.execution_arn == arn)
        events: list[dict[str, Any]] = execution.exec_worker.env.event_manager.get_event_history()
        return events

    def emails(self, stack: stacks.Stack, execution_arn: str | None = None) -> list[dict[str, str]]:
        """Messages published to the stack's topic (what the subscribed address receives), oldest first."""
        topic = sns_backends[stacks.ACCOUNT][self.region].topics[stack.topic_arn]
        sent = [{"subject": subject or "", "message": message} for _id, message, subject, _attrs, _group in topic.sent_notifications]
        return [m for m in sent if execution_arn is None or execution_arn in m["message"]]
