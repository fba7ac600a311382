"""CloudFormation for the emulator: deploy template.yaml the way `sam deploy` would into AWS.

The template is inlined (deploy.template, the same step `make package` uses), transformed to CloudFormation by
aws-sam-translator, and each resource is created through the account's API in dependency order with its intrinsics
resolved. Functions run the real handler files named by CodeUri (emulator/adapters/awslambda.py). The stack itself is
registered with CloudFormation, so DescribeStacks returns its outputs, as the command line expects on AWS.

Each resource type is translated from its CloudFormation properties (CloudFormation Template Reference) to the calls
that make it; a type, or a property of a type, that it does not know raises NotImplementedError rather than deploying
something else. Nothing is ever deleted here, so `DeletionPolicy: Retain` holds by itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import uuid
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from deploy import template
from emulator.adapters import awslambda, speed
from emulator.world.awslambda import DeployedFunction

# The translator's metrics object warns at exit that nobody published it; nothing is meant to be published here.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


class _NoManagedPolicies:
    """aws-sam-translator asks IAM for AWS managed policy ARNs; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass
class Stack:
    name: str
    region: str
    account_id: str
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> GetAtt values
    functions: dict[str, DeployedFunction] = field(default_factory=dict)  # logical id -> function
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # role name -> {policy name: document}
    definitions: dict[str, str] = field(default_factory=dict)  # logical id -> the deployed definition
    outputs: dict[str, str] = field(default_factory=dict)
    stack_uuid: str = ""  # the last part of the stack's id (CloudFormation draws a UUID per stack)

    @property
    def state_machine_arn(self) -> str:
        return self.physical["RestoreStateMachine"]

    @property
    def batch_state_machine_arn(self) -> str:
        return self.physical["BatchRestoreStateMachine"]

    @property
    def definition(self) -> str:
        return self.definitions["RestoreStateMachine"]

    @property
    def topic_arn(self) -> str:
        return self.physical["NotificationTopic"]


class Resolver:
    def __init__(self, stack: Stack, conditions: dict[str, bool]) -> None:
        self.stack = stack
        self.conditions = conditions
        self.pseudo = {
            "AWS::Region": stack.region,
            "AWS::AccountId": stack.account_id,
            "AWS::Partition": "aws",
            "AWS::StackName": stack.name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{stack.region}:{stack.account_id}:stack/{stack.name}/{stack.stack_uuid}",
        }

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.stack.parameters:
            return self.stack.parameters[name]
        return self.stack.physical[name]

    def get_att(self, name: str, attribute: str) -> str:
        return self.stack.attributes[name][attribute]

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return SUB_VARIABLE.sub(value, text).replace("${!", "${")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if fn == "Fn::GetAtt":
                return self.get_att(*(arg.split(".", 1) if isinstance(arg, str) else arg))
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return self.sub(text, variables)
            if fn == "Fn::Join":
                return self.resolve(arg[0]).join(str(x) for x in self.resolve(arg[1]))
            if fn == "Fn::Split":
                return self.resolve(arg[1]).split(self.resolve(arg[0]))
            if fn == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if fn == "Fn::If":
                return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])
            if fn in CONDITION_FUNCTIONS:
                return CONDITION_FUNCTIONS[fn]([self.resolve(x) for x in arg])
            if fn == "Condition" and isinstance(arg, str):  # a condition naming another one
                return self.conditions[arg]
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}


_NO_VALUE = object()
CONDITION_FUNCTIONS: dict[str, Callable[[list[Any]], bool]] = {
    "Fn::Equals": lambda args: bool(args[0] == args[1]),
    "Fn::Not": lambda args: not args[0],
    "Fn::And": all,
    "Fn::Or": any,
}


def references(node: Any) -> set[str]:
    """Logical ids a resource's properties depend on."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".")[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".")[0] for name in SUB_VARIABLE.findall(text)}
                found |= references(value if isinstance(value, str) else value[1])
            else:
                found |= references(value)
    return found


def dependency_order(resources: dict[str, Any]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(lid: str) -> None:
        if lid in order or lid not in resources:
            return
        if lid in visiting:
            raise ValueError(f"circular dependency at {lid}")
        visiting.add(lid)
        deps = references(resources[lid].get("Properties", {})) | set(_as_list(resources[lid].get("DependsOn", [])))
        for dep in sorted(deps):
            visit(dep)
        visiting.discard(lid)
        order.append(lid)

    for lid in resources:
        visit(lid)
    return order


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def deploy(
    stack_name: str,
    region: str,
    account_id: str,
    parameters: dict[str, str],
    client: Callable[[str], Any],
    template_path: Path = template.ROOT / "template.yaml",
    function_environment: dict[str, str] | None = None,
    stack_uuid: str = "",
) -> Stack:
    """Create every resource with the emulator's clients (`client(service)`); functions get `function_environment`
    on top of their own variables (the credentials Lambda would give them)."""
    code_uris, values, cfn = _translated(
        template_path.resolve(), template_path.stat().st_mtime_ns, region, tuple(sorted(parameters.items()))
    )
    root = template_path.resolve().parent
    stack = Stack(stack_name, region, account_id, values, stack_uuid=stack_uuid or str(uuid.uuid5(uuid.NAMESPACE_URL, stack_name)))
    resolver = Resolver(stack, {})
    for name, condition in cfn.get("Conditions", {}).items():  # in order: a condition may name an earlier one
        resolver.conditions[name] = bool(resolver.resolve(condition))
    services = ("iam", "logs", "sns", "lambda", "stepfunctions", "kms", "events", "sqs", "dynamodb", "cloudwatch", "s3", "ec2")
    clients = {s: client(s) for s in services}
    for lid in dependency_order(cfn["Resources"]):
        resource = cfn["Resources"][lid]
        if "Condition" in resource and not resolver.conditions[resource["Condition"]]:
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        create = _CREATORS.get(resource["Type"])
        if create is None:
            raise NotImplementedError(f"the emulator cannot deploy {resource['Type']} ({lid})")
        create(stack, lid, props, clients, {"code_uri": code_uris.get(lid), "root": root, "extra_env": function_environment or {}})
    # An output whose Condition is false is not created (CloudFormation User Guide, "Outputs": Condition)
    outputs = {name: o for name, o in cfn.get("Outputs", {}).items() if "Condition" not in o or resolver.conditions[o["Condition"]]}
    stack.outputs = {name: str(resolver.resolve(output["Value"])) for name, output in outputs.items()}
    _register(stack, client("cloudformation"), outputs)
    return stack


def _register(stack: Stack, cloudformation: Any, outputs: dict[str, Any]) -> None:
    """Make the deployed stack visible to DescribeStacks, outputs included (the resources were created above)."""
    body = {
        "Resources": {"Deployed": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            name: {"Value": stack.outputs[name], **({"Description": o["Description"]} if "Description" in o else {})}
            for name, o in outputs.items()
        },
    }
    with warnings.catch_warnings():  # moto creates no resource for a wait condition handle, and says so
        warnings.simplefilter("ignore", UserWarning)
        cloudformation.create_stack(StackName=stack.name, TemplateBody=json.dumps(body))


class ParameterValuesMissingError(Exception):
    """CreateStack's ValidationError for parameters without a Default that were given no value."""


def _read(path: Path, mtime_ns: int) -> str:
    """The template as written and inlined, as JSON (what does not depend on the parameters: two thirds of a
    translation's time, remembered per version)."""
    source = template.load(path)
    return json.dumps([source, template.inline(source, path.parent)])


def _translate(path: Path, mtime_ns: int, region: str, parameters: tuple[tuple[str, str], ...]) -> str:
    """Read, inline and transform the template (remembered per version and parameters: tests deploy it many times)."""
    source, inlined = json.loads(speed.remember("template-source", (path, mtime_ns), lambda: _read(path, mtime_ns), keep=2))
    code_uris = {lid: r["Properties"]["CodeUri"] for lid, r in source["Resources"].items() if "CodeUri" in r.get("Properties", {})}
    defaults = {name: p["Default"] for name, p in source.get("Parameters", {}).items() if "Default" in p}
    values = {**{k: str(v) for k, v in defaults.items()}, **dict(parameters)}
    # CloudFormation refuses CreateStack when a parameter without a Default is given no value (ValidationError; the
    # message as the API answers it).
    missing = [name for name in source.get("Parameters", {}) if name not in values]
    if missing:
        raise ParameterValuesMissingError(f"Parameters: [{', '.join(missing)}] must have values")
    cfn = transform(inlined, {**values, "AWS::Region": region}, _NoManagedPolicies())
    return json.dumps([code_uris, values, cfn])


def _translated(
    path: Path, mtime_ns: int, region: str, parameters: tuple[tuple[str, str], ...]
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    key = (path, mtime_ns, region, parameters)
    code_uris, values, cfn = json.loads(speed.remember("template", key, lambda: _translate(*key), keep=8))  # a fresh copy every deploy
    return code_uris, values, cfn


Creator = Callable[[Stack, str, dict[str, Any], dict[str, Any], dict[str, Any]], None]


def _key(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    meta = clients["kms"].create_key(Description=props.get("Description", ""), Policy=json.dumps(props["KeyPolicy"]))["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        clients["kms"].enable_key_rotation(KeyId=meta["KeyId"])
    stack.physical[lid] = meta["KeyId"]
    stack.attributes[lid] = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}


def _log_group(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    name = props.get("LogGroupName", f"{stack.name}-{lid}")
    clients["logs"].create_log_group(logGroupName=name, **({"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {}))
    if "RetentionInDays" in props:
        clients["logs"].put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    stack.physical[lid] = name
    stack.attributes[lid] = {"Arn": f"arn:aws:logs:{stack.region}:{stack.account_id}:log-group:{name}:*"}


def _topic(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    attributes = {k: str(props[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in props}
    arn = clients["sns"].create_topic(Name=f"{stack.name}-{lid}", Attributes=attributes)["TopicArn"]
    stack.physical[lid] = arn
    stack.attributes[lid] = {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}


def _subscription(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    arn = clients["sns"].subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])["SubscriptionArn"]
    stack.physical[lid] = arn


def _role(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    name = props.get("RoleName", f"{stack.name}-{lid}")
    arn = clients["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))["Role"]["Arn"]
    for policy in props.get("Policies", []):
        _put_policy(stack, clients, name, policy["PolicyName"], policy["PolicyDocument"])
    stack.physical[lid] = name
    stack.attributes[lid] = {"Arn": arn}


def _policy(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    for role in props["Roles"]:
        _put_policy(stack, clients, role, props["PolicyName"], props["PolicyDocument"])
    stack.physical[lid] = props["PolicyName"]


def _put_policy(stack: Stack, clients: dict[str, Any], role: str, name: str, document: dict[str, Any]) -> None:
    # IAM accepts a document without Version (SAM's policy templates emit none); moto insists on one.
    document = {"Version": "2012-10-17", **document}
    clients["iam"].put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    stack.policies.setdefault(role, {})[name] = document


def _function(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    name = props.get("FunctionName", f"{stack.name}-{lid}")
    variables = {**props.get("Environment", {}).get("Variables", {}), **ctx["extra_env"]}
    created = clients["lambda"].create_function(
        FunctionName=name,
        Runtime=props["Runtime"],
        Role=props["Role"],
        Handler=props["Handler"],
        Code={"ZipFile": _zip(props["Code"]["ZipFile"])},
        Timeout=int(props.get("Timeout", 3)),
        MemorySize=int(props.get("MemorySize", 128)),
        Environment={"Variables": variables},
    )
    arn = created["FunctionArn"]
    lambda_env = {**variables, "AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region}
    source = template.function_source(ctx["code_uri"], ctx["root"])
    module = awslambda.load_handler(source, f"{stack.name}.{lid}", lambda_env)
    log_group = props.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{name}")
    log_group_arn = f"arn:aws:logs:{stack.region}:{stack.account_id}:log-group:{log_group}:*"
    timeout = int(props.get("Timeout", 3))
    function = DeployedFunction(lid, name, module, lambda_env, timeout, source, log_group_arn, role_arn=created["Role"])
    function.dead_letter_arn = props.get("DeadLetterConfig", {}).get("TargetArn")
    stack.functions[lid] = function
    stack.physical[lid] = name
    stack.attributes[lid] = {"Arn": arn}


def _state_machine(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    text = props["DefinitionString"] if "DefinitionString" in props else json.dumps(props["Definition"], indent=2)
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + key + "}", str(value))
    role_arn = props["RoleArn"]
    arn = clients["stepfunctions"].create_state_machine(
        name=props.get("StateMachineName", f"{stack.name}-{lid}"),
        definition=text,
        roleArn=role_arn,
        type=props.get("StateMachineType", "STANDARD"),
    )["stateMachineArn"]
    stack.definitions[lid] = text
    stack.physical[lid] = arn
    stack.attributes[lid] = {"Arn": arn, "Name": arn.rsplit(":", 1)[1]}


def _queue(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    attributes = {k: str(props[k]) for k in ("KmsMasterKeyId", "MessageRetentionPeriod", "VisibilityTimeout") if k in props}
    url = clients["sqs"].create_queue(QueueName=props.get("QueueName", f"{stack.name}-{lid}"), Attributes=attributes)["QueueUrl"]
    arn = clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.physical[lid] = url  # Ref on a queue is its URL
    stack.attributes[lid] = {"Arn": arn, "QueueName": arn.rsplit(":", 1)[1], "QueueUrl": url}


def _queue_policy(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    for url in props["Queues"]:
        clients["sqs"].set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    stack.physical[lid] = f"{stack.name}-{lid}"


def _topic_policy(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    for arn in props["Topics"]:
        clients["sns"].set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"]))
    stack.physical[lid] = f"{stack.name}-{lid}"


def _rule(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    """An event rule (EventPattern), a scheduled rule (ScheduleExpression: fired by the emulator's schedules), or both."""
    name = props.get("Name", f"{stack.name}-{lid}")
    settings: dict[str, Any] = {k: props[k] for k in ("Description", "State", "EventBusName", "ScheduleExpression") if k in props}
    if "EventPattern" in props:
        settings["EventPattern"] = json.dumps(props["EventPattern"])
    arn = clients["events"].put_rule(Name=name, **settings)["RuleArn"]
    # The API takes the same target shape as the template (Id, Arn, InputTransformer, DeadLetterConfig, ...).
    if props.get("Targets"):
        bus = {"EventBusName": props["EventBusName"]} if "EventBusName" in props else {}
        clients["events"].put_targets(Rule=name, Targets=props["Targets"], **bus)
    stack.physical[lid] = name  # Ref on a rule of the default bus is its name
    stack.attributes[lid] = {"Arn": arn}


def _event_invoke_config(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    """How Lambda retries an asynchronous invocation (emulator/adapters/awslambda.py runs the retries)."""
    (function,) = [f for f in stack.functions.values() if f.name == props["FunctionName"]]
    function.max_retry_attempts = int(props.get("MaximumRetryAttempts", function.max_retry_attempts))
    function.max_event_age_seconds = int(props.get("MaximumEventAgeInSeconds", function.max_event_age_seconds))
    stack.physical[lid] = f"{stack.name}-{lid}"


def _permission(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    """A statement of the function's resource policy: EventBridge delivers to the function only if one admits the rule."""
    settings = {k: props[k] for k in ("SourceArn", "SourceAccount") if k in props}
    clients["lambda"].add_permission(
        FunctionName=props["FunctionName"], StatementId=lid, Action=props["Action"], Principal=props["Principal"], **settings
    )
    stack.physical[lid] = lid


def _table(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    name = props.get("TableName", f"{stack.name}-{lid}")
    settings = {k: props[k] for k in ("BillingMode", "SSESpecification") if k in props}
    described = clients["dynamodb"].create_table(
        TableName=name, AttributeDefinitions=props["AttributeDefinitions"], KeySchema=props["KeySchema"], **settings
    )["TableDescription"]
    if "TimeToLiveSpecification" in props:
        clients["dynamodb"].update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    stack.physical[lid] = name
    stack.attributes[lid] = {"Arn": described["TableArn"]}


def _alarm(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    name = props.get("AlarmName", f"{stack.name}-{lid}")
    keys = ("AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods", "Threshold",
            "ComparisonOperator", "TreatMissingData", "AlarmActions")  # fmt: skip
    settings = {k: props[k] for k in keys if k in props}
    for number in ("Period", "EvaluationPeriods"):
        if number in settings:
            settings[number] = int(settings[number])
    if "Threshold" in settings:
        settings["Threshold"] = float(settings["Threshold"])
    clients["cloudwatch"].put_metric_alarm(AlarmName=name, **settings)
    stack.physical[lid] = name
    stack.attributes[lid] = {"Arn": f"arn:aws:cloudwatch:{stack.region}:{stack.account_id}:alarm:{name}"}


def _physical_name(stack: Stack, lid: str, limit: int) -> str:
    """A name as CloudFormation makes one when the template gives none: stack, logical id and a suffix, lowercase.
    ASSUMPTION: the suffix (CloudFormation's is random) is drawn from the account, stack and logical id."""
    suffix = hashlib.sha256(f"{stack.account_id}:{stack.name}:{lid}".encode()).hexdigest()[:12]
    return f"{stack.name}-{lid}".lower()[: limit - len(suffix) - 1] + "-" + suffix


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _known(lid: str, props: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(props) - known)
    if unknown:
        raise NotImplementedError(f"the emulator cannot deploy {lid}'s {', '.join(unknown)}")


BUCKET_PROPERTIES = {"BucketName", "BucketEncryption", "PublicAccessBlockConfiguration", "OwnershipControls", "NotificationConfiguration",
                     "LifecycleConfiguration", "VersioningConfiguration", "Tags"}  # fmt: skip


def _bucket(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    """AWS::S3::Bucket through S3's API, one call per configuration (CloudFormation Template Reference,
    aws-resource-s3-bucket)."""
    _known(lid, props, BUCKET_PROPERTIES)
    s3, name = clients["s3"], props.get("BucketName") or _physical_name(stack, lid, 63)
    s3.create_bucket(
        Bucket=name, **({} if stack.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": stack.region}})
    )
    if "BucketEncryption" in props:
        rules = [
            {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"], **({"BucketKeyEnabled": _flag(r["BucketKeyEnabled"])}
             if "BucketKeyEnabled" in r else {})}
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]  # fmt: skip
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        block = {k: _flag(v) for k, v in props["PublicAccessBlockConfiguration"].items()}
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": props["OwnershipControls"]["Rules"]})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]})
    if "Tags" in props:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})
    if "NotificationConfiguration" in props:
        notification = props["NotificationConfiguration"]
        _known(f"{lid}.NotificationConfiguration", notification, {"EventBridgeConfiguration"})
        enabled = _flag(notification["EventBridgeConfiguration"].get("EventBridgeEnabled", True))
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}} if enabled else {})
    if "LifecycleConfiguration" in props:
        lifecycle = props["LifecycleConfiguration"]
        _known(f"{lid}.LifecycleConfiguration", lifecycle, {"Rules", "TransitionDefaultMinimumObjectSize"})
        extra = (
            {"TransitionDefaultMinimumObjectSize": lifecycle["TransitionDefaultMinimumObjectSize"]}
            if "TransitionDefaultMinimumObjectSize" in lifecycle
            else {}
        )
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(lid, r) for r in lifecycle["Rules"]]}, **extra
        )
    stack.physical[lid] = name
    stack.attributes[lid] = {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                             "RegionalDomainName": f"{name}.s3.{stack.region}.amazonaws.com"}  # fmt: skip


LIFECYCLE_RULE_PROPERTIES = {"Id", "Status", "Prefix", "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "Transitions",
                             "Transition", "ExpirationInDays"}  # fmt: skip


def _lifecycle_rule(lid: str, rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle Rule as the API's LifecycleRule (aws-properties-s3-bucket-rule): its filters become one
    Filter (an And when there are several), TransitionInDays becomes Days."""
    _known(f"{lid}.LifecycleConfiguration.Rules", rule, LIFECYCLE_RULE_PROPERTIES)
    conditions: dict[str, Any] = {}
    if "Prefix" in rule:
        conditions["Prefix"] = rule["Prefix"]
    if rule.get("TagFilters"):
        conditions["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in rule["TagFilters"]]
    for size in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if size in rule:
            conditions[size] = int(rule[size])
    if len(conditions) > 1 or len(conditions.get("Tags", [])) > 1:
        where: dict[str, Any] = {"And": conditions}
    elif "Tags" in conditions:
        where = {"Tag": conditions["Tags"][0]}
    else:
        where = conditions or {"Prefix": ""}
    transitions = [*rule.get("Transitions", []), *([rule["Transition"]] if "Transition" in rule else [])]
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": where}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if transitions:
        api["Transitions"] = [
            {
                "StorageClass": t["StorageClass"],
                **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {"Date": t["TransitionDate"]}),
            }
            for t in transitions
        ]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    return api


def _bucket_policy(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    clients["s3"].put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
    stack.physical[lid] = props["Bucket"]


def _permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CloudFormation's Ingress/Egress rules as the API's IpPermissions (aws-properties-ec2-security-group-rule)."""
    permissions = []
    for rule in rules:
        permission: dict[str, Any] = {"IpProtocol": str(rule["IpProtocol"])}
        for port in ("FromPort", "ToPort"):
            if port in rule:
                permission[port] = int(rule[port])
        described = {"Description": rule["Description"]} if "Description" in rule else {}
        if "CidrIp" in rule:
            permission["IpRanges"] = [{"CidrIp": rule["CidrIp"], **described}]
        for group in ("SourceSecurityGroupId", "DestinationSecurityGroupId"):
            if group in rule:
                permission["UserIdGroupPairs"] = [{"GroupId": rule[group], **described}]
        permissions.append(permission)
    return permissions


def _security_group(stack: Stack, lid: str, props: dict[str, Any], clients: dict[str, Any], ctx: dict[str, Any]) -> None:
    """AWS::EC2::SecurityGroup: created with EC2's default egress (all traffic out) and no ingress; the template's
    SecurityGroupEgress replaces that egress, its SecurityGroupIngress is authorized (aws-resource-ec2-securitygroup)."""
    _known(lid, props, {"GroupName", "GroupDescription", "VpcId", "SecurityGroupIngress", "SecurityGroupEgress", "Tags"})
    ec2 = clients["ec2"]
    name = props.get("GroupName") or _physical_name(stack, lid, 255)
    settings = {"VpcId": props["VpcId"]} if "VpcId" in props else {}
    if "Tags" in props:
        settings["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": props["Tags"]}]
    group_id = ec2.create_security_group(GroupName=name, Description=props["GroupDescription"], **settings)["GroupId"]
    if props.get("SecurityGroupIngress"):
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=_permissions(props["SecurityGroupIngress"]))
    if "SecurityGroupEgress" in props and "VpcId" in props:
        everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=everything)
        if props["SecurityGroupEgress"]:
            ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=_permissions(props["SecurityGroupEgress"]))
    stack.physical[lid] = group_id
    stack.attributes[lid] = {"GroupId": group_id, "VpcId": props.get("VpcId", "")}


_CREATORS: dict[str, Creator] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::KMS::Key": _key,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::Events::Rule": _rule,
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": _policy,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::EventInvokeConfig": _event_invoke_config,
    "AWS::Lambda::Permission": _permission,
    "AWS::DynamoDB::Table": _table,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::StepFunctions::StateMachine": _state_machine,
}
