"""Notify Drill Report: one email per drill, through SNS, and the outcome the drill ends with.

Event:  {"execution": $$.Execution.Id, "state": <the drill's state: "report" (Record Drill Results' result), or
         only "failed" when the drill was refused or its results could not be recorded>}
Result: {"passed": true | false, "error": "DrillFailedError" | <the refusal's error> | null, "cause", "messageId"}:
        "Drill Failed" ends the execution with that error and cause.
Per archive: passed or failed, what was checked, each phase's time and the estimated cost; the archives over
DrillMaxGb that were not drilled; a boot check asked without DrillSubnetId; what the cleanup removed and anything left.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger()

sns = boto3.client("sns")

GB = 10**9


def sns_subject(text: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no line breaks."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:100]


def hours_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} h"


def archive_lines(result: dict[str, Any]) -> list[str]:
    verdict = "PASSED" if result["passed"] else "FAILED"
    restore_error = f" ({result['restore']['error']})" if result["restore"].get("error") else ""
    lines = [
        f"{verdict}  {result['amiName']}  {result['recoveryPoint']}",
        f"  Class, tier, size:  {result['storageClass']}, {result['tier']}, {result['sizeBytes'] / GB:,.1f} GB",
        f"  Restore:            {result['restore']['status']}{restore_error}, {result['restore']['execution']}",
        f"  Restored AMI:       {result['imageId'] or '-'}",
    ]  # fmt: skip
    phases = result["phases"]
    for label, key in (("Restore requested", "restoreRequestedAt"), ("Copy readable", "copyReadyAt"),
                       ("Image requested", "imageRequestedAt"), ("Image available", "imageAvailableAt")):  # fmt: skip
        lines.append(f"  {label + ':':<20}{phases.get(key) or '-'}")
    times = result["hours"]
    lines.append(
        f"  Time:               copy {hours_text(times['copy'])}, image {hours_text(times['image'])}, total {hours_text(times['total'])}"
    )
    compared = result.get("expectedFrom") or "nothing recorded to compare with (original AMI gone, no earlier drill passed)"
    lines.append(f"  Checks (compared with {compared}):")
    lines += [f"    {'ok ' if c['passed'] else 'BAD'} {c['name']}: {c['detail']}" for c in result["checks"]] or [
        "    none: no AMI to check"
    ]
    boot = result.get("boot")
    if boot:
        lines.append(f"  Boot check:         {'ok' if boot['passed'] else 'FAILED'} ({boot['instanceType']} {boot['instanceId']}: system "
                     f"{boot.get('system')}, instance {boot.get('instance')})")  # fmt: skip
    if result.get("failure"):
        lines.append(f"  Step failed:        {result['failure']['error']}: {result['failure']['cause']}")
    lines.append(f"  Estimated cost:     ${result['costUsd']:.4f}")
    return lines


def render(report: dict[str, Any]) -> tuple[str, str]:
    archives = report["archives"]
    passed = sum(r["passed"] for r in archives)
    outcome = "passed" if report["passed"] else "FAILED"
    subject = f"Restore drill {outcome}: {passed} of {len(archives)} archive(s) restored and checked"
    lines = [f"The restore drill {report['drill']} {outcome}.", ""]
    if report.get("error"):
        lines += [f"{report['error']}: {report['cause']}", ""]
    for result in archives:
        lines += [*archive_lines(result), ""]
    if report["tooLarge"]:
        lines.append(f"Not drilled, over DrillMaxGb ({report['maxGb']:g} GB):")
        lines += [f"  {a['amiName']}  s3://{a['bucket']}/{a['recoveryPoint']}  {a['sizeBytes'] / GB:,.1f} GB" for a in report["tooLarge"]]
        lines.append("")
    if report["bootSkipped"]:
        lines += ["Boot check asked, but the stack has no DrillSubnetId: no instance was launched.", ""]
    cleanup = report.get("cleanup") or {}
    removed, left = cleanup.get("removed", {}), cleanup.get("left", {})
    lines.append("Cleanup: removed " + ", ".join(f"{len(removed.get(k, []))} {k}" for k in ("instances", "images", "snapshots"))
                 + ("; nothing left" if cleanup.get("clean") else f"; LEFT IN AWS: {left}"))  # fmt: skip
    if cleanup.get("terminating"):
        lines.append(f"Terminating: {', '.join(cleanup['terminating'])}")
    lines += [f"Estimated cost of the drill: ${report['costUsd']:.4f} (us-east-1 list prices)", "", f"Execution: {report['drill']}"]
    return sns_subject(subject), "\n".join(lines)


def render_refusal(execution: str, failed: dict[str, Any], cleanup: dict[str, Any] | None) -> tuple[str, str, str, str]:
    step, caught = next(iter(failed.items()))
    if step == "ValidateDrill":
        after = "Nothing was restored or changed."
    else:  # the drill ran but its results were not recorded: say only what the cleanup read back
        after = f"The drill's results could not be recorded. Its cleanup read back: {cleanup}"
    error, cause = caught.get("Error", "States.TaskFailed"), str(caught.get("Cause", ""))
    text = f"The restore drill {execution} did not run: {step} failed with {error}.\n\n{cause}\n\n{after}\n\n"
    text += f"Execution: {execution}"
    return sns_subject(f"Restore drill FAILED: {error} at {step}"), text, error, cause


def notify(sns_client: SNSClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    state = event["state"]
    report = state.get("report")
    if report is None:
        subject, text, error, cause = render_refusal(event["execution"], state.get("failed") or {"Unknown": {}}, state.get("cleanup"))
        passed = False
    else:
        subject, text = render(report)
        passed, error, cause = report["passed"], report["error"], report["cause"]
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=text)["MessageId"]
    return {"passed": passed, "error": error, "cause": cause, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify(sns, os.environ["TOPIC_ARN"], event)
