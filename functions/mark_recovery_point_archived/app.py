"""Mark Recovery Point Archived: tag the recovery point with where its verified archive is, so that no later run
stores it again.

Invoked by the "Mark Recovery Point Archived" state, only after Verify Archive. Event: {"item": a Select Recovery
Points item}. Result: {"taggedOn": "recovery-point" | "image", "tag": "s3://bucket/key"}.

AWS Backup's TagResource tags the recovery point; for an `arn:aws:ec2:` ARN its API Reference says it "may" refuse
(only `arn:aws:backup:` resources are sure to be tagged). Then the AMI itself is tagged through EC2 (CreateTags on the
image: it is the recovery point), which Select Recovery Points reads as well.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger()
BackupClient = Any  # no type stubs for AWS Backup are installed

_config = Config(retries={"mode": "standard", "max_attempts": 5})
backup = boto3.client("backup", config=_config)
ec2 = boto3.client("ec2", config=_config)

ARCHIVED_TAG = "glacier-ami-restore:archived-to"
IMAGE_ARN = re.compile(r"arn:aws[\w-]*:ec2:[a-z0-9-]+::image/(ami-[0-9a-f]{8,17})")
REFUSED_TAGGING = ("InvalidParameterValueException", "InvalidRequestException", "ResourceNotFoundException")


def mark_recovery_point_archived(backup_client: BackupClient, ec2_client: EC2Client, item: dict[str, Any]) -> dict[str, str]:
    where = f"s3://{item['bucket']}/{item['key']}"
    try:
        backup_client.tag_resource(ResourceArn=item["recoveryPointArn"], Tags={ARCHIVED_TAG: where})
    except ClientError as error:
        if error.response["Error"]["Code"] not in REFUSED_TAGGING or not IMAGE_ARN.fullmatch(item["recoveryPointArn"]):
            raise
        logger.info("AWS Backup did not tag %s (%s): tagging its AMI", item["recoveryPointArn"], error.response["Error"]["Code"])
        ec2_client.create_tags(Resources=[item["imageId"]], Tags=[{"Key": ARCHIVED_TAG, "Value": where}])
        return {"taggedOn": "image", "tag": where}
    return {"taggedOn": "recovery-point", "tag": where}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    return mark_recovery_point_archived(backup, ec2, event["item"])
