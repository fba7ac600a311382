"""The private names of moto and botocore that the adapters touch, and the versions this list was reviewed for.

A private name (a leading underscore) is not part of a library's contract: an upgrade may rename or reshape it without
notice. tests/static/test_emulator_layers.py fails when the installed moto or botocore differs from the version
reviewed here, or when the adapters touch a private name missing from this list. Upgrading is then a deliberate step:
read each name's use against the new version, run `make test` with EMULATOR_SPEEDUPS=0 and without, then update the
versions here.
"""

from __future__ import annotations

REVIEWED_VERSIONS = {"moto": "5.2.5", "botocore": "1.43.127"}

# name -> where the adapters use it, and what for
PRIVATE_NAMES = {
    # moto: responses and backends
    "_authenticate_and_authorize_s3_action": "s3.py: RestoreObject keeps moto's IAM check for the request",
    "_set_action": "s3.py: RestoreObject names its action for moto's IAM check",
    "_get_key": "s3.py: GetObjectTagging reads an archived object's tags",
    "_key_response_post": "s3.py: RestoreObject answered by the world",
    "_notification_config_from_body": "s3.py: Prefix/Suffix filter rule names as S3 takes them",
    "_send_event_bridge_message": "s3.py: S3's `Object Created` EventBridge event is the world's (others stay moto's)",
    "_expiry": "s3.py: FakeKey's restore expiry from the world",
    "_get_param": "ec2.py, iam.py, stepfunctions.py: a request's parameters",
    "_get_action": "iam.py: the Step Functions action being authorized",
    "_determine_resource": "iam.py: the resource SNS, DynamoDB and Step Functions actions are authorized against",
    "_authenticate_and_authorize_normal_action": "iam.py: TransactWriteItems authorized as the actions it holds; EC2 and "
    "CloudWatch decided by the world's IAM model",
    "_access_key": "iam.py: the caller's policies (moto's IAMRequest collects them) for the world's IAM model",
    "_policy_json": "iam.py: a policy's document as moto parsed it, for the world's IAM model",
    "_RESTError": "iam.py: a refusal while moto authorizes, answered as moto answers its own",
    "_authenticate_and_authorize_action": "iam.py: moto's own check, with a transaction item's action",
    "_load_amis": "ec2.py: ten public AMIs instead of 1,300",
    "_get_executions": "backends.py, iam.py, sfn_children.py: an execution by ARN",
    "moto.moto_api._internal": "backends.py: mock_random, seeded per emulator",
    "_record_request": "speed.py: the remembered route records requests as moto's stubber does",
    "_user_enabled": "serving.py: the tagging shortcut steps aside while moto records requests",
    "_private_key": "speed.py: KMS key material drawn when first used",
    # moto: the Step Functions interpreter
    "_invoke_lambda_function": "awslambda.py: Lambda tasks run the deployed handler",
    "_from_error": "stepfunctions.py: Lambda.<Code> errors, States.HeartbeatTimeout",
    "_wait_interval": "stepfunctions.py: Wait states on the virtual clock",
    "_evaluation_details": "stepfunctions.py: an execution's account, for its clock",
    "_execution_logic": "stepfunctions.py: the execution thread is a participant of the clock",
    "_history_event_list": "stepfunctions.py: the history quota",
    "_notify_event": "stepfunctions.py: a token wait on the virtual clock",
    "_outcome": "stepfunctions.py: a token wait's outcome",
    "_mutex": "stepfunctions.py: heartbeat waits",
    "_next_heartbeat_event": "stepfunctions.py: heartbeat waits",
    "_heartbeat_seconds": "stepfunctions.py: heartbeat waits",
    "_pool": "stepfunctions.py: StopExecution interrupts token waits",
    "_launch_worker": "stepfunctions.py: Map iterations counted by the clock",
    "_create_worker": "stepfunctions.py: Map iterations counted by the clock",
    "_termination_event": "stepfunctions.py: Map and Parallel waits counted as asleep",
    "_worker_thread": "stepfunctions.py: Parallel branches counted by the clock",
    "_thread_routine": "stepfunctions.py: Parallel branches counted by the clock",
    "_program": "stepfunctions.py: a Parallel branch's thread name, as moto names it",
    "_eval_service_task": "sfn_children.py: states:startExecution tasks start real child executions",
    "_eval_sync": "sfn_children.py: `.sync` waits for the child on the virtual clock",
    "_build_sync_resolver": "sfn_children.py: `.sync` waits for the child on the virtual clock",
    "_build_sync2_resolver": "sfn_children.py: `.sync:2` waits for the child on the virtual clock",
    "_get_boto_service_action": "sfn_children.py: which Step Functions action a task calls",
    "_get_sfn_resource": "sfn_children.py: a failed child's TaskFailed event",
    "_get_sfn_resource_type": "sfn_children.py: a failed child's TaskFailed event",
    "_eval_body": "stepfunctions.py: a Catch remembers the state it chose, even the catching state itself",
    "_set_next": "stepfunctions.py: a Catch's Next wins over the state's own Next",
    # botocore
    "_shape_model": "wire.py: an emulated error's code and HTTP status in moto's serializer",
    "_shape_resolver": "wire.py: the emulated error's members resolve as the service model's do",
    "_create_methods": "speed.py: client methods built once per service model",
    "_service_description": "speed.py: client methods built once per service model",
    "_cache": "speed.py: Loaders with the same search paths share what they read",
}
