"""IAM as AWS applies it beyond the called action, on top of moto's own policy evaluation.

moto checks the caller's policies for the action it serves (once enforcement is on: emulator/adapters/process.py) but
not what AWS authorizes alongside it. `authorize` and `require` let the other adapters apply AWS's rules (EC2 writes a
restored image's snapshots and tags with the caller's permissions: adapters/ec2.py; HeadObject's 403 without
s3:ListBucket: adapters/s3.py). The rules added here:
- Publishing to an SNS topic under a customer managed KMS key needs kms:GenerateDataKey and kms:Decrypt.
- sns:Publish is authorized against the topic ARN, and the Step Functions actions against the execution or state
  machine they name (moto compares services it does not scope against "*").
- DynamoDB item actions are authorized against the table ARN, and SendTaskSuccess/Failure/Heartbeat against the
  state machine of the token's execution (the resource types the Service Authorization Reference lists; moto
  compares both against "*", so a policy scoped as AWS advises would be refused).
- TransactWriteItems is authorized as the actions it holds, each against its table: PutItem, UpdateItem, DeleteItem,
  ConditionCheckItem (DynamoDB Developer Guide, "Using IAM with DynamoDB transactions"; IAM has no
  dynamodb:TransactWriteItems action, which moto would check).
- EC2 and CloudWatch requests are decided by the world's IAM model instead of moto's (which compares every EC2 action
  with "*" and ignores conditions): each resource the request uses or creates, with its tags and the request's as
  condition keys (emulator/world/ec2_authorization.py), evaluated with the caller's policies as IAM does
  (emulator/world/iam.py). A refusal answers UnauthorizedOperation (EC2) or AccessDenied (CloudWatch), 403; what the
  model cannot decide fails the request as undecided, never allowed by guess. (moto checked CloudWatch's actions as
  `monitoring:...`, its signing name, so that no policy granting `cloudwatch:PutMetricData` allowed it.)
- AWS Backup's recovery point actions are authorized against the vault or recovery point they name (Service
  Authorization Reference, "Actions, resources, and condition keys for AWS Backup",
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbackup.html: ListRecoveryPointsByBackupVault
  on backupVault `arn:${Partition}:backup:${Region}:${Account}:backup-vault:${BackupVaultName}`; DescribeRecoveryPoint,
  DeleteRecoveryPoint, TagResource, UntagResource and ListTags on recoveryPoint
  `arn:${Partition}:backup:${Region}:${Account}:recovery-point:${RecoveryPointId}`; moto compares them with "*").
  ASSUMPTION: an EC2 recovery point of a standard vault, whose ARN is its image's (`arn:aws:ec2:<region>::image/ami-…`),
  is authorized against that ARN, the one the request names: the reference lists only the backup form.
- A bodiless AWS Backup or Lambda request without a query string (GET, DELETE) is signed as botocore signs it: moto
  took the request's headers for its body, so no such request passed its signature check with IAM enforced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from moto.awslambda.responses import LambdaResponse
from moto.backup.responses import BackupResponse
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import AccessDeniedError, _RESTError
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.models import ec2_backends
from moto.ec2.responses import EC2Response
from moto.iam.access_control import IAMPolicy, IAMRequest
from moto.sns.models import sns_backends
from moto.sns.responses import SNSResponse
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.responses import StepFunctionResponse

from emulator.adapters.errors import EmulatedError
from emulator.adapters.process import enforcing
from emulator.adapters.registry import Credentials
from emulator.world import ec2_authorization
from emulator.world import iam as world_iam


def caller(headers: Any) -> Credentials:
    credential = headers["Authorization"].split("Credential=", 1)[1].split("/", 1)[0]
    return credential, headers.get("X-Amz-Security-Token")


def authorize(credentials: Credentials, action: str, resource: str, region: str, account_id: str) -> bool:
    """Would IAM let these credentials perform `action` on `resource`? moto's own policy evaluation."""
    access_key, token = credentials
    service = action.split(":", 1)[0]
    scope = f"{access_key}/20260101/{region}/{service}/aws4_request"  # moto reads the key and service from it
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"}
    if token:
        headers["X-Amz-Security-Token"] = token
    request = IAMRequest(account_id=account_id, method="POST", path="/", data={}, body=b"", headers=headers, action=action.split(":", 1)[1])
    try:
        request.check_action_permitted(resource)
    except AccessDeniedError:
        return False
    return True


def require(
    credentials: Credentials,
    action: str,
    resource: str,
    region: str,
    account_id: str,
    code: str = "UnauthorizedOperation",
    status: int = 403,
) -> None:
    if enforcing() and not authorize(credentials, action, resource, region, account_id):
        raise EmulatedError(code, f"You are not authorized to perform: {action} on {resource}", status)


def policies(credentials: Credentials, region: str, account_id: str) -> list[dict[str, Any]]:
    """The identity-based policy documents of these credentials' user or role, as moto holds them."""
    access_key, token = credentials
    scope = f"{access_key}/20260101/{region}/iam/aws4_request"
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"}
    if token:
        headers["X-Amz-Security-Token"] = token
    request = IAMRequest(account_id=account_id, method="POST", path="/", data={}, body=b"", headers=headers, action="Decide")
    return [IAMPolicy(p)._policy_json for p in request._access_key.collect_policies()]


def decide(credentials: Credentials, requests: list[world_iam.Request], region: str, account_id: str) -> world_iam.Request | None:
    """The first of these authorizations the credentials' policies do not allow (None: all allowed)."""
    documents = policies(credentials, region, account_id)
    return next((r for r in requests if world_iam.evaluate(documents, r) != "Allow"), None)


class MotoResourceTags:
    """The world's ResourceTags: the tags of the account's EC2 resources in moto's backends."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def tags(self, region: str, resource_id: str) -> dict[str, str] | None:
        ec2 = ec2_backends[self.account_id][region]
        kind = resource_id.split("-", 1)[0]
        known: Callable[[], bool] = {
            "ami": lambda: resource_id in ec2.amis,
            "snap": lambda: resource_id in ec2.snapshots,
            "vol": lambda: resource_id in ec2.volumes,
            "i": lambda: ec2.get_instance_by_id(resource_id) is not None,
            "sg": lambda: ec2.get_security_group_from_id(resource_id) is not None,
            "subnet": lambda: any(resource_id in zone for zone in ec2.subnets.values()),
        }.get(kind, lambda: True)
        return dict(ec2.tags.get(resource_id, {})) if known() else None


# The parameters the world's model reads (botocore's names, as moto's _get_param gives them)
EC2_PARAMETERS = ("ImageId", "InstanceType", "SubnetId", "SecurityGroupIds", "NetworkInterfaces", "TagSpecifications",
                  "BlockDeviceMappings", "InstanceIds", "SnapshotId", "Resources", "Tags", *ec2_authorization.UNDECIDED_LAUNCH)  # fmt: skip


class Refused(_RESTError):
    """A refusal while moto authorizes a request (before the action runs, only its HTTP errors are answered)."""

    def __init__(self, code: str, message: str, status: int, body: Any = None) -> None:
        super().__init__(code, message)
        self.code = status  # (werkzeug's name for the HTTP status)
        if body is not None:
            self.description = body


def _modelled(original: Any, requests_of: Any, code: str) -> Any:
    """moto's authorization of a request, replaced while IAM is enforced by the world's decision on every resource."""

    def authorize_action(self: Any, resource: str = "*") -> None:
        if not enforcing():
            original(self, resource)  # moto counts the requests it lets through unchecked
            return
        query = urlparse(self.uri).query
        path = self.raw_path + (f"?{query}" if query else "")  # (as moto signs it)
        request = IAMRequest(self.current_account, self.method, path, self.data, self.raw_body, self.headers, self._get_action())
        request.check_signature()
        try:
            refused = decide(caller(self.headers), requests_of(self), self.region, self.current_account)
        except world_iam.UndecidedCondition as undecided:
            raise Refused("EmulatorCannotDecide", f"the emulator's IAM model cannot decide this request: {undecided}", 400) from undecided
        if refused is not None:
            message = f"You are not authorized to perform: {refused.action} on resource: {refused.resource}"
            # (in the response's protocol, as the action's serializer writes errors: CloudWatch answers in CBOR)
            status, _, body = self.serialized(ActionResult(EmulatedError(code, message, 403)))
            raise Refused(code, message, status, body)

    return authorize_action


def _ec2_requests(self: Any) -> list[world_iam.Request]:
    params = {name: self._get_param(name) for name in EC2_PARAMETERS}
    resources = MotoResourceTags(self.current_account)
    return ec2_authorization.ec2_requests(self._get_action(), params, self.region, self.current_account, resources)


def _cloudwatch_requests(self: Any) -> list[world_iam.Request]:
    return ec2_authorization.cloudwatch_requests(self._get_action(), {"Namespace": self._get_param("Namespace")})


def may_delete_snapshot(credentials: Credentials, region: str, account_id: str, snapshot_id: str) -> bool:
    """Would DeregisterImage's DeleteAssociatedSnapshots delete this snapshot as these credentials? (always, unenforced)"""
    if not enforcing():
        return True
    tags = MotoResourceTags(account_id).tags(region, snapshot_id) or {}
    return decide(credentials, [ec2_authorization.deleting_snapshot(region, snapshot_id, tags)], region, account_id) is None


def _sns_publish(original: Any) -> Any:
    def publish(self: Any) -> Any:
        topic_arn = self._get_param("TopicArn")
        topic = sns_backends[self.current_account][self.region].topics.get(topic_arn)
        key = getattr(topic, "kms_master_key_id", "") if topic else ""
        if key and not key.startswith("alias/aws/"):
            key_arn = key if key.startswith("arn:") else f"arn:aws:kms:{self.region}:{self.current_account}:key/{key}"
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                require(caller(self.headers), action, key_arn, self.region, self.current_account, "KMSAccessDenied", 400)
        return original(self)

    return publish


def _sns_resource(self: Any) -> str:
    return str(self._get_param("TopicArn") or self._get_param("TargetArn") or "*")


def _dynamodb_resource(self: Any) -> str:
    table = self._get_param("TableName")
    return f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}" if table else "*"


# A transaction's item kinds and the actions IAM authorizes them as (DynamoDB Developer Guide, transactions and IAM).
TRANSACTION_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _as_action(item_action: str, **request: Any) -> IAMRequest:
    """moto's IAM request for `item_action` instead of the action the request names."""
    return IAMRequest(**{**request, "action": item_action})


def _dynamodb_authorize(original: Any) -> Any:
    def authorize_action(self: Any, resource: str = "*") -> None:
        if self._get_action() != "TransactWriteItems":
            original(self, resource)
            return None
        for item in self._get_param("TransactItems") or []:
            ((kind, body),) = item.items()
            table = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{body.get('TableName')}"
            # moto's own check (signature, then policies), with the item's action instead of the request's
            self._authenticate_and_authorize_action(functools.partial(_as_action, TRANSACTION_ACTIONS[kind]), table)
        return None

    return authorize_action


CALLBACK_ACTIONS = ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")


def _stepfunctions_resource(self: Any) -> str:
    """The execution or state machine an action names; for a callback, the state machine whose execution issued the
    token, whether the task is still open or not."""
    if self._get_action() not in CALLBACK_ACTIONS:
        return str(self._get_param("executionArn") or self._get_param("stateMachineArn") or "*")
    token = self._get_param("taskToken")
    for execution in stepfunctions_parser_backends[self.current_account][self.region]._get_executions():
        env = getattr(execution.exec_worker, "env", None)  # None until the execution's thread has set it up
        if env is not None and env.callback_pool_manager.get(token) is not None:
            return str(execution.state_machine.arn)
    return "*"


def _backup_resource(self: Any) -> str:
    """The backup vault or recovery point an AWS Backup request names (paths as botocore's model gives them)."""
    path = unquote(self.path.split("?", 1)[0]).rstrip("/")
    for marker in ("/tags/", "/untag/"):
        if path.startswith(marker):
            return path.split(marker, 1)[1]  # a recovery point, vault or plan: the ARN itself
    if "/backup-vaults/" in path:
        vault, _, rest = path.split("/backup-vaults/", 1)[1].partition("/")
        if rest.startswith("recovery-points/"):
            return rest.removeprefix("recovery-points/")
        if rest in ("", "recovery-points"):
            return f"arn:aws:backup:{self.region}:{self.current_account}:backup-vault:{vault}"
    return "*"


def _bodiless_signature(original: Any) -> Any:
    """moto hands IAM's signature check the request's headers as the body of a bodiless REST request without a query
    string (AWS Backup's and Lambda's GET and DELETE: GetPolicy, RemovePermission), so no signed request matched: the
    body it signed is empty."""

    def authorize_action(self: Any, resource: str = "*") -> None:
        saved = self.data
        if not self.raw_body:
            self.data = {}
        try:
            original(self, resource)
        finally:
            self.data = saved

    return authorize_action


def install() -> None:
    # moto lets any caller publish to a topic under a customer managed key: KMS's two actions are required too.
    SNSResponse.publish = _sns_publish(SNSResponse.publish)  # type: ignore[method-assign]
    # moto authorizes SNS, DynamoDB and Step Functions actions against "*": against the resource they name, as AWS does.
    SNSResponse._determine_resource = _sns_resource  # type: ignore[attr-defined]
    DynamoHandler._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    # moto checks TransactWriteItems as an action of its own: AWS checks the actions the transaction holds.
    DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize(DynamoHandler._authenticate_and_authorize_normal_action)  # type: ignore[method-assign]
    StepFunctionResponse._determine_resource = _stepfunctions_resource  # type: ignore[attr-defined]
    # moto authorizes EC2 against "*" and ignores conditions: the world's model decides EC2 and CloudWatch requests.
    EC2Response._authenticate_and_authorize_normal_action = _modelled(  # type: ignore[method-assign]
        EC2Response._authenticate_and_authorize_normal_action, _ec2_requests, "UnauthorizedOperation"
    )
    CloudWatchResponse._authenticate_and_authorize_normal_action = _modelled(  # type: ignore[method-assign]
        CloudWatchResponse._authenticate_and_authorize_normal_action, _cloudwatch_requests, "AccessDenied"
    )
    BackupResponse._determine_resource = _backup_resource  # type: ignore[attr-defined]
    # moto's signature check takes a bodiless request's headers for its body: the signed body was empty.
    BackupResponse._authenticate_and_authorize_normal_action = _bodiless_signature(BackupResponse._authenticate_and_authorize_normal_action)  # type: ignore[method-assign]
    LambdaResponse._authenticate_and_authorize_normal_action = _bodiless_signature(LambdaResponse._authenticate_and_authorize_normal_action)  # type: ignore[method-assign]
