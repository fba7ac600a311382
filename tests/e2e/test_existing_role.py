"""The blog's deployment, still supported: LambdaExecutionRoleName names an existing role the functions run as.

Apart from tests/e2e/test_least_privilege.py: that module keeps one enforced emulator open for all its tests, and one
emulator per process is active at a time."""

from __future__ import annotations

from emulator.facade import LAMBDA_ROLE, Emulator
from tests.e2e.test_least_privilege import BASELINE, outcomes
from tests.support import BUCKET


def test_an_existing_role_named_by_lambda_execution_role_name_runs_the_workflow() -> None:
    # Given the blog's deployment: the functions run as an existing role (the archive side's)
    with Emulator() as aws:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        aws.send_bucket_events(BUCKET)
        stack = aws.deploy(LambdaExecutionRoleName=LAMBDA_ROLE)
        # Then the stack makes no role: it attaches its policy to that one, which the functions run as
        assert "FunctionRole" not in stack.physical
        assert aws.function_role(stack) == f"arn:aws:iam::123456789012:role/{LAMBDA_ROLE}"
        policies = ["glacier-ami-restore-drills", "glacier-ami-restore-executions", "glacier-ami-restore-functions"]
        assert sorted(stack.policies[LAMBDA_ROLE]) == policies
        # When IAM is enforced / Then the scenarios end as with the stack's own role
        aws.enforce_iam(stack)
        assert outcomes(aws, stack) == BASELINE
