"""AWS Backup on moto, with the world's EC2 recovery points (emulator/world/backup.py), which moto 5.2.5 lacks: it has
vaults, their Vault Lock and plans, no recovery points.

- ListRecoveryPointsByBackupVault, DescribeRecoveryPoint and DeleteRecoveryPoint are added to moto's BackupResponse
  (moto finds a REST action from the method and path in botocore's model, then calls the method named after it) and
  answered by the world; moto routes no recovery-point URL of the service, so their paths join its URL table.
- TagResource, UntagResource and ListTags on a recovery point ARN are the world's (moto tags any ARN, and its ListTags
  reads the ARN from the path split on "/", which breaks an image ARN); vaults and plans stay moto's.
- `MotoVaults` is the world's VaultRegistry: moto's vaults, their lock, and their NumberOfRecoveryPoints (moto: 0).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.backup import urls as backup_urls
from moto.backup.models import backup_backends
from moto.backup.responses import BackupResponse
from moto.core.responses import ActionResult, EmptyResult

from emulator.adapters.errors import answering_world_errors
from emulator.adapters.registry import bound, require
from emulator.world.backup import BackupModel, VaultLock

# Recovery point ARNs hold ":" and, in the image form, "/": a path segment of its own, percent-encoded by the SDKs and
# decoded by the HTTP server, so the ARN is the rest of the path.
RECOVERY_POINTS = "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$"
RECOVERY_POINT = "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<recoveryPointArn>.+)$"


class MotoVaults:
    """The world's VaultRegistry: the account's vaults in moto's backup backends."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def _vault(self, region: str, vault: str) -> Any:
        return backup_backends[self.account_id][region].vaults.get(vault)

    def arn(self, region: str, vault: str) -> str | None:
        found = self._vault(region, vault)
        return str(found.backup_vault_arn) if found is not None else None

    def lock(self, region: str, vault: str) -> VaultLock | None:
        found = self._vault(region, vault)
        if found is None or not found.locked:
            return None
        return VaultLock(found.min_retention_days, found.max_retention_days)

    def counted(self, region: str, vault: str, recovery_points: int) -> None:
        found = self._vault(region, vault)
        if found is not None:  # ListBackupVaults reads the first; DescribeBackupVault's serializer looks for the second
            found.num_of_recovery_points = found.number_of_recovery_points = recovery_points


def _model(response: Any) -> BackupModel:
    return require(response.current_account).backup


def _after(path: str, marker: str) -> str:
    return unquote(path.split(marker, 1)[1].rstrip("/"))


def _time(value: str | None) -> datetime | None:
    """A querystring timestamp: ISO 8601 as botocore sends it, or epoch seconds as other clients may."""
    if not value:
        return None
    if value.replace(".", "").isdigit():
        return datetime.fromtimestamp(float(value), tz=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@answering_world_errors
def _list_recovery_points_by_backup_vault(self: Any) -> ActionResult:
    vault = unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])
    query = {k: v[0] for k, v in self.querystring.items()}
    filters = {
        "ByResourceType": query.get("resourceType"),
        "ByResourceArn": query.get("resourceArn"),
        "ByBackupPlanId": query.get("backupPlanId"),
        "ByCreatedBefore": _time(query.get("createdBefore")),
        "ByCreatedAfter": _time(query.get("createdAfter")),
    }
    max_results = int(query["maxResults"]) if query.get("maxResults") else None
    points, token = _model(self).list_by_vault(self.region, vault, filters, max_results, query.get("nextToken"))
    return ActionResult({"RecoveryPoints": points, **({"NextToken": token} if token else {})})


def _vault_and_point(self: Any) -> tuple[str, str]:
    vault = unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])
    return vault, _after(self.path, "/recovery-points/")


@answering_world_errors
def _describe_recovery_point(self: Any) -> ActionResult:
    vault, arn = _vault_and_point(self)
    return ActionResult(_model(self).describe(self.region, vault, arn))


@answering_world_errors
def _delete_recovery_point(self: Any) -> EmptyResult:
    vault, arn = _vault_and_point(self)
    _model(self).delete(self.region, vault, arn)
    return EmptyResult()


def _tags(original: Any, marker: str) -> Any:
    @answering_world_errors
    def tags(self: Any) -> Any:
        arn = _after(self.path, marker)
        account = bound(self.current_account)
        if account is None or not account.backup.is_recovery_point(arn):
            return original(self)  # vaults and plans: moto's
        body = json.loads(self.body) if self.body else {}
        if marker == "/untag/":
            account.backup.untag(arn, body.get("TagKeyList", []))
        elif self.method == "POST":
            account.backup.tag(arn, body.get("Tags", {}))
        else:
            return json.dumps({"Tags": account.backup.list_tags(arn)})
        return "{}"

    return tags


def install() -> None:
    # moto has no recovery points: the world's, on the paths botocore's model gives them.
    for path in (RECOVERY_POINTS, RECOVERY_POINT):
        backup_urls.url_paths[path] = backup_urls.response.dispatch
    BackupResponse.list_recovery_points_by_backup_vault = _list_recovery_points_by_backup_vault  # type: ignore[attr-defined]
    BackupResponse.describe_recovery_point = _describe_recovery_point  # type: ignore[attr-defined]
    BackupResponse.delete_recovery_point = _delete_recovery_point  # type: ignore[attr-defined]
    # moto tags any ARN and cannot read an image ARN back from ListTags' path: recovery points' tags are the world's.
    BackupResponse.tag_resource = _tags(BackupResponse.tag_resource, "/tags/")  # type: ignore[method-assign]
    BackupResponse.untag_resource = _tags(BackupResponse.untag_resource, "/untag/")  # type: ignore[method-assign]
    BackupResponse.list_tags = _tags(BackupResponse.list_tags, "/tags/")  # type: ignore[method-assign]
