"""glacier-ami-restore: find, price, restore and watch EC2 AMIs archived in S3 by CreateStoreImageTask.

Exit codes: 0 success, 1 the restore failed, 2 bad usage or input (including AWS errors the operator must fix: no
credentials, an endpoint that is not a URL or does not answer), 3 a bug (GLACIER_AMI_RESTORE_DEBUG=1 shows its
traceback). Errors go to stderr in one line that says what to do.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from rich import box
from rich.console import Console
from rich.table import Table

from glacier_ami_restore import archive, archiving, drills, estimate, notifications, progress, validation, workflow
from glacier_ami_restore.aws import POOL_SIZE, Aws, CliError, origin

PROG = "glacier-ami-restore"
F = TypeVar("F", bound=Callable[..., Any])
PLAIN_WIDTH = 200  # not a terminal: wide enough that no table wraps
RIGHT_ALIGNED = ("SIZE", "TOTAL", "SNS", "SQS", "LAMBDA")
DEBUG_VARIABLE = "GLACIER_AMI_RESTORE_DEBUG"


def one_line(text: str) -> str:
    return " ".join(text.split())


class Cli(click.Group):
    """Turns every failure into one line on stderr and the documented exit code."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        code = 0
        try:
            result = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx else PROG
            click.echo(f"{PROG}: {one_line(error.format_message())} (see `{command} --help`)", err=True)
            code = 2
        except click.Abort:
            click.echo(f"{PROG}: interrupted; a started restore goes on: follow it with `{PROG} watch`", err=True)
            code = 130
        except CliError as error:
            click.echo(f"{PROG}: {one_line(str(error))}", err=True)
            code = error.exit_code
        except NoCredentialsError:
            click.echo(f"{PROG}: no AWS credentials found: run `aws configure`, pass --profile, or set AWS_ACCESS_KEY_ID", err=True)
            code = 2
        except EndpointConnectionError as error:
            where = origin(str(error.kwargs.get("endpoint_url") or ""))
            hint = " (is `make emulator` running?)" if urlsplit(where).hostname in ("127.0.0.1", "localhost", "::1") else ""
            click.echo(f"{PROG}: cannot reach {where}{hint}: check --endpoint-url, --region and the network", err=True)
            code = 2
        except ClientError as error:
            details = error.response.get("Error", {})
            operation = getattr(error, "operation_name", "request")
            click.echo(
                f"{PROG}: AWS refused {operation}: {details.get('Code')}: {one_line(str(details.get('Message') or ''))} "
                "(check the credentials, the Region and the caller's permissions)",
                err=True,
            )
            code = 2
        except BotoCoreError as error:
            click.echo(f"{PROG}: {one_line(str(error))}", err=True)
            code = 2
        except Exception as error:  # a bug: still one line, and the traceback on request
            if os.environ.get(DEBUG_VARIABLE):
                raise
            click.echo(
                f"{PROG}: unexpected error {type(error).__name__}: {one_line(str(error))} (a bug: {DEBUG_VARIABLE}=1 shows where)", err=True
            )
            code = 3
        if standalone_mode:
            sys.exit(code)
        return code


def aws_options(function: F) -> F:
    """--profile, --region, --endpoint-url, --output: accepted before or after the command, as the AWS CLI does."""
    options = [
        click.option("--profile", default=None, help="Named profile from ~/.aws/config."),
        click.option("--region", default=None, help="AWS Region (default: the profile's, AWS_REGION or AWS_DEFAULT_REGION)."),
        click.option("--endpoint-url", default=None, help="Endpoint for every service (the local emulator); AWS_ENDPOINT_URL works too."),
        click.option("--output", type=click.Choice(["table", "json"]), default=None, help="table (default) or json."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


class Settings:
    def __init__(self) -> None:
        self.values: dict[str, str | None] = {"profile": None, "region": None, "endpoint_url": None, "output": None}
        self._aws: Aws | None = None

    def merge(self, **given: str | None) -> None:
        self.values.update({k: v for k, v in given.items() if v is not None})

    @property
    def json(self) -> bool:
        return self.values["output"] == "json"

    def aws(self) -> Aws:
        if self._aws is None:
            self._aws = Aws(self.values["profile"], self.values["region"], self.values["endpoint_url"])
            self._aws.require_credentials()
        return self._aws


def settings(ctx: click.Context, /, given: dict[str, Any]) -> Settings:
    found: Settings = ctx.ensure_object(Settings)
    found.merge(**{k: given.pop(k) for k in ("profile", "region", "endpoint_url", "output")})
    return found


def console(plain_width: int = PLAIN_WIDTH) -> Console:
    """rich wraps a long line with hard newlines at the terminal's width, which breaks a URL or an ARN for the mouse and
    for `tmux capture-pane -J`: lines are printed whole (the terminal folds them); tables still fit the width."""
    terminal = sys.stdout.isatty()
    return Console(width=None if terminal else plain_width, highlight=False, soft_wrap=True)


def print_table(out: Console, table: Table) -> None:  # also a Table.grid
    """On a terminal as rich draws it; otherwise without the trailing padding (stable for scripts and golden files)."""
    if out.is_terminal:
        out.print(table)
        return
    with out.capture() as captured:
        out.print(table)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def size(amount: int | None) -> str:
    if amount is None:
        return "?"
    value = float(amount)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{amount} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{amount} B"


def when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def restore_label(ami: archive.ArchivedAmi) -> str:
    status = ami.restore_status
    if status == "restored" and ami.restore_expiry is not None:
        return f"restored until {when(ami.restore_expiry)}"
    return status.replace("-", " ")


def new_table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True, justify="right" if column in RIGHT_ALIGNED else "left")
    return table


@click.group(name=PROG, cls=Cli, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@aws_options
@click.version_option(package_name="glacier-ami-restore", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, /, **given: Any) -> None:
    """Find, price, restore and watch EC2 AMIs archived in S3 Glacier by CreateStoreImageTask."""
    settings(ctx, given)
    if ctx.invoked_subcommand is None:  # no command: the help, as bad usage (the same with every click version)
        click.echo(ctx.get_help(), err=True)
        ctx.exit(2)


# --- list -------------------------------------------------------------------------------------------------------------


def parse_day(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError as error:
            raise CliError(f"--archived-before must be a date like 2025-01-31 or 2025-01-31T12:00Z (got {value!r})") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_buckets(buckets: Sequence[str]) -> None:
    for bucket in buckets:
        if (problem := validation.bucket_problem(bucket)) is not None:
            raise CliError(f"--bucket '{bucket}' {problem}")


@cli.command("list")
@click.option("--bucket", "buckets", multiple=True, help="Bucket to read (repeatable; default: every bucket of the Region).")
@click.option("--name", "pattern", default=None, help="Only AMI names matching this glob, e.g. 'web-*'.")
@click.option("--archived-before", default=None, help="Only AMIs archived before this date (UTC), e.g. 2025-01-31.")
@aws_options
@click.pass_context
def list_command(ctx: click.Context, /, buckets: tuple[str, ...], pattern: str | None, archived_before: str | None, **given: Any) -> int:
    """Every archived AMI: original name and id, archived date, size, class, restore status (and the AWS Backup vault
    and recovery point of those the archive side stored)."""
    config = settings(ctx, given)
    before = parse_day(archived_before)
    check_buckets(buckets)
    found = archive.filter_archive(archive.list_archive(config.aws(), buckets), pattern, before)
    if config.json:
        emit_json([a.as_json() for a in found])
        return 0
    # AMIs the archive side stored name the AWS Backup vault and recovery point they came from (an ARN: wide)
    backed_up = any(a.recovery_point_arn for a in found)
    out = console(PLAIN_WIDTH + 100 if backed_up else PLAIN_WIDTH)
    if not found:
        out.print("No archived AMIs (objects <ami-id>.bin) found.")
        return 0
    origin = ("VAULT", "RECOVERY POINT") if backed_up else ()
    table = new_table("NAME", "IMAGE ID", "ARCHIVED", "SIZE", "CLASS", "RESTORE", "BUCKET", *origin)
    for a in found:
        came_from = (a.vault or "-", a.recovery_point_arn or "-") if backed_up else ()
        label = restore_label(a)
        table.add_row(a.name, a.image_id or a.key, when(a.archived_at), size(a.size_bytes), a.class_label, label, a.bucket, *came_from)
    print_table(out, table)
    return 0


# --- estimate ---------------------------------------------------------------------------------------------------------


def check_tier_and_days(tier: str | None, days: str) -> str | None:
    normalised = validation.normalise_tier(tier) if tier is not None else None
    problems = [p for p in (validation.tier_problem(normalised) if normalised else None, validation.days_problem(days)) if p]
    if problems:
        raise CliError("; ".join(problems))
    return normalised


def check_reference(reference: str) -> None:
    key = reference.split("/", 3)[-1] if reference.startswith("s3://") else reference
    if key.endswith(".bin") and (problem := validation.key_problem(key)) is not None:
        raise CliError(problem)
    if reference.startswith("s3://") and (problem := validation.bucket_problem(reference[5:].split("/", 1)[0])) is not None:
        raise CliError(f"bucket in {reference} {problem}")


@cli.command("estimate")
@click.argument("reference", metavar="NAME|KEY")
@click.option("--tier", default=None, help="Only this tier: Standard, Bulk or Expedited.")
@click.option("--days", default="1", show_default=True, help="Days the temporary copy lives (1-30).")
@click.option("--bucket", "buckets", multiple=True, help="Bucket to search (repeatable).")
@aws_options
@click.pass_context
def estimate_command(ctx: click.Context, /, reference: str, tier: str | None, days: str, buckets: tuple[str, ...], **given: Any) -> int:
    """Time to an available AMI and cost, for each tier the object's class allows."""
    config = settings(ctx, given)
    tier = check_tier_and_days(tier, days)
    check_reference(reference)
    aws = config.aws()
    ami = archive.resolve(aws, reference, buckets)
    table_data = estimate.prices()
    options = estimate.estimate(ami, int(days), tier, table_data)
    fastest, cheapest = estimate.fastest(options), estimate.cheapest(options)
    if config.json:
        emit_json(
            {
                "ami": ami.as_json(),
                "days": int(days),
                "prices": {"region": table_data["region"], "date": table_data["date"], "currency": table_data["currency"]},
                "options": [o.as_json() for o in options],
                "fastest": fastest.tier,
                "cheapest": cheapest.tier,
            }
        )
        return 0
    out = console()
    out.print(f"{ami.name}  s3://{ami.bucket}/{ami.key}  {ami.class_label}  {size(ami.size_bytes)}")
    table = new_table("TIER", "COPY READY IN", "AMI AVAILABLE IN", "RETRIEVAL", "REQUEST", f"COPY {days} D", "WORKFLOW", "TOTAL")
    for o in options:
        table.add_row(
            o.tier or "none",
            estimate.span(o.restore_seconds) if o.tier else "readable now",
            estimate.span(o.available_seconds),
            estimate.money(o.retrieval),
            estimate.money(o.requests),
            estimate.money(o.copy),
            estimate.money(o.workflow),
            estimate.money(o.total),
        )
    print_table(out, table)
    for label, option in (("Fastest", fastest), ("Cheapest", cheapest)):
        within = estimate.span(option.available_seconds)
        out.print(f"{label}: {option.tier or 'no restore'} (AMI in {within}, {estimate.money(option.total)})")
    notes = sorted({o.note for o in options if o.note})
    assumed = table_data["assumptions"]
    for note in [*notes, assumed["imageRestore"]["note"], assumed["workflowPerRestore"]["note"]]:
        out.print(f"Note: {note}")
    out.print(f"Prices: {table_data['region']} list prices of {table_data['date']} ({table_data['currency']}); check before quoting.")
    return 0


# --- restore, status, watch -------------------------------------------------------------------------------------------


def stack_option(function: F) -> F:
    help_text = "CloudFormation stack (default: stack_name in ./samconfig.toml, else glacier-ami-restore)."
    return click.option("--stack", default=None, help=help_text)(function)


def interval_option(function: F) -> F:
    return click.option("--interval", type=float, default=None, help="Seconds between polls (default: 0.2 s rising to 30 s).")(function)


def batch_machine(aws: Aws, stack: str | None) -> Callable[[], str | None]:
    """The batch state machine's ARN (the stack's output), looked up once and only when a batch is shown."""
    found: list[str | None] = []

    def arn() -> str | None:
        if not found:
            try:
                found.append(workflow.stack_outputs(aws, stack or workflow.default_stack()).get(workflow.BATCH_OUTPUT_KEY))
            except CliError:  # no such stack: the batch is shown without its AMIs
                found.append(None)
        return found[0]

    return arn


def watch(config: Settings, arn: str, interval: float | None, stack: str | None) -> int:
    aws = config.aws()
    cache: dict[str, archive.ArchivedAmi | None] = {}
    out = console()
    mode = "quiet" if config.json else ("live" if out.is_terminal else "lines")
    batch = batch_machine(aws, stack)
    final = progress.follow(lambda: workflow.read_progress(aws, arn, cache, batch), out, interval, mode)
    return report(config, final, out)


def report(config: Settings, final: workflow.Progress, out: Console) -> int:
    """The outcome, and the exit code: 0 succeeded (or still running, for status), 1 failed."""
    if config.json:
        emit_json(final.as_json())
    elif final.status == "SUCCEEDED" and final.batch is not None:
        made = [a.image_id for a in final.batch.amis if a.image_id]
        took = estimate.duration(final.elapsed.total_seconds())
        out.print(f"{len(made)} of {len(final.batch.amis)} AMIs are available (the batch took {took}): {', '.join(made) or '-'}.")
    elif final.status == "SUCCEEDED":
        out.print(f"AMI {final.image_id} is available (restored in {estimate.duration(final.elapsed.total_seconds())}).")
    if final.status in ("SUCCEEDED", "RUNNING"):
        return 0
    click.echo(f"{PROG}: restore {final.status}: {final.error or '-'}: {one_line(final.cause or '')}; {final.advice}", err=True)
    return 1


def names_exactly(reference: str, ami: archive.ArchivedAmi) -> bool:
    """The AMI's exact name, key, AMI id, object (s3://bucket/key) or AWS Backup recovery point ARN (either form: the
    recovery point's, or the EC2 image's): not a prefix or a glob of its name."""
    if reference in (ami.name, ami.key, ami.image_id, f"s3://{ami.bucket}/{ami.key}", ami.recovery_point_arn):
        return True
    return ami.image_id is not None and reference.startswith("arn:") and reference.endswith(f":image/{ami.image_id}")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm_partial_name(reference: str, ami: archive.ArchivedAmi, what: str) -> None:
    """A restore is billed: one found by a prefix or a glob starts only once the operator said yes."""
    if not stdin_is_terminal():
        raise CliError(
            f"'{reference}' matches {ami.name} only as a prefix or a pattern: nothing started; restore it by its full name "
            f"({PROG} restore {ami.name}), its key or AMI id, or pass --yes"
        )
    if not click.confirm(f"'{reference}' is not a full name: restore {what}?", default=False, err=True):
        raise CliError(f"nothing started: restore it by its full name ({PROG} restore {ami.name})")


@cli.command("restore")
@click.argument("reference", metavar="NAME|KEY|AMI-ID|RECOVERY-POINT-ARN")
@click.option("--tier", default="Standard", show_default=True, help="Standard, Bulk or Expedited (not for Deep Archive).")
@click.option(
    "--days",
    default="1",
    show_default=True,
    help="Days the temporary copy lives (1-30, any class and tier: the workflow lengthens the copy when the image restore needs it).",
)
@click.option("--ami-name", default=None, help="Name for the restored AMI (a suffix keeps it unique).")
@click.option("--bucket", "buckets", multiple=True, help="Bucket to search (repeatable).")
@click.option("--wait", is_flag=True, help="Then follow the restore as `watch` does.")
@click.option("--again", is_flag=True, help="Start a new restore even if this same request ran before.")
@click.option("--yes", is_flag=True, help="Start without asking when NAME is a prefix or a glob of the AMI's name.")
@stack_option
@interval_option
@aws_options
@click.pass_context
def restore_command(
    ctx: click.Context,
    /,
    reference: str,
    tier: str,
    days: str,
    ami_name: str | None,
    buckets: tuple[str, ...],
    wait: bool,
    again: bool,
    yes: bool,
    stack: str | None,
    interval: float | None,
    **given: Any,
) -> int:
    """Start the stack's state machine, once, for the newest archived object of NAME (or KEY, AMI-ID, s3://BUCKET/KEY,
    or the ARN of the AWS Backup recovery point the archive side stored it from).

    A prefix or a glob naming one AMI asks first on a terminal, and is refused elsewhere without --yes."""
    config = settings(ctx, given)
    # Refuse bad input before any AWS call, with Validate Input's rules.
    checked_tier = check_tier_and_days(tier, days) or "Standard"
    if ami_name is not None and (problem := validation.ami_name_problem(ami_name)) is not None:
        raise CliError(problem)
    check_buckets(buckets)
    check_reference(reference)
    aws = config.aws()
    machine = workflow.state_machine_arn(aws, stack or workflow.default_stack())
    ami = archive.with_head(aws, archive.resolve(aws, reference, buckets))
    allowed = estimate.tiers_for(ami.storage_class, ami.archive_status)
    if allowed and checked_tier not in allowed:
        raise CliError(f"{ami.class_label} cannot be restored with {checked_tier}: use --tier {' or '.join(allowed)}")
    if (problem := validation.bucket_problem(ami.bucket)) is not None:
        raise CliError(f"bucket '{ami.bucket}' {problem}")
    body = workflow.payload(ami, checked_tier, days, ami_name)
    what = f"{ami.name} (s3://{ami.bucket}/{ami.key}, {ami.class_label}, {checked_tier}, {days} d)"
    if not yes and not names_exactly(reference, ami):
        confirm_partial_name(reference, ami, what)
    arn, started = workflow.start(aws, machine, body, workflow.stamp(aws.now()) if again else None)
    out = console()
    if config.json and not wait:
        emit_json({"executionArn": arn, "consoleUrl": workflow.console_url(aws.region, arn), "started": started, "input": body})
        return 0
    if not config.json:
        if started:
            out.print(f"Started the restore of {what}.")
        else:
            status = aws.sfn().describe_execution(executionArn=arn)["status"]
            out.print(f"This restore of {what} was already started ({status}): not starting another one (--again would).")
        out.print(f"Execution: {arn}")
        out.print(f"Console:   {workflow.console_url(aws.region, arn)}")
    if wait:
        return watch(config, arn, interval, stack)
    return 0


@cli.command("status")
@click.argument("reference", metavar="[EXECUTION|NAME]", required=False)
@stack_option
@aws_options
@click.pass_context
def status_command(ctx: click.Context, /, reference: str | None, stack: str | None, **given: Any) -> int:
    """Stage, elapsed time, ETA, copy expiry and AMI id of a restore (default: the newest)."""
    config = settings(ctx, given)
    aws = config.aws()
    arn = reference if reference and reference.startswith("arn:") else None
    if arn is None:
        arn = workflow.find_execution(aws, workflow.state_machine_arn(aws, stack or workflow.default_stack()), reference)
    found = workflow.read_progress(aws, arn, batch_machine=batch_machine(aws, stack))
    out = console()
    if not config.json:
        print_table(out, progress.table(found))
        out.print(f"Console: {workflow.console_url(aws.region, arn)}")
    return report(config, found, out)


@cli.command("watch")
@click.argument("reference", metavar="[EXECUTION|NAME]", required=False)
@stack_option
@interval_option
@aws_options
@click.pass_context
def watch_command(ctx: click.Context, /, reference: str | None, stack: str | None, interval: float | None, **given: Any) -> int:
    """Follow a restore until it ends: live display on a terminal, one line per stage otherwise."""
    config = settings(ctx, given)
    aws = config.aws()
    arn = reference if reference and reference.startswith("arn:") else None
    if arn is None:
        arn = workflow.find_execution(aws, workflow.state_machine_arn(aws, stack or workflow.default_stack()), reference)
    return watch(config, arn, interval, stack)


# --- history ----------------------------------------------------------------------------------------------------------


def history_row(aws: Aws, listed: dict[str, Any]) -> dict[str, Any]:
    described = aws.sfn().describe_execution(executionArn=listed["executionArn"])
    request = json.loads(described.get("input") or "{}")
    output = json.loads(described.get("output") or "null")
    facts: dict[str, Any] = output if isinstance(output, dict) else {}
    if described["status"] != "SUCCEEDED":
        facts = {**workflow.facts_from(workflow.recent_events(aws, listed["executionArn"])), **facts}
    started = described["startDate"].astimezone(UTC)
    stopped = described["stopDate"].astimezone(UTC) if described.get("stopDate") else None

    def between(first: str, last: str) -> int | None:
        a, b = facts.get(first), facts.get(last)
        if not (isinstance(a, str) and isinstance(b, str)):
            return None
        return int((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds())

    request = request if isinstance(request, dict) else {}
    if "recoveryPoints" in request:  # a batch: its AMIs' outcomes are in its summary (the execution's output)
        points, amis = request.get("recoveryPoints"), facts.get("amis")
        return {
            "executionArn": listed["executionArn"],
            "name": listed["name"],
            "status": described["status"],
            "batch": {
                "recoveryPoints": len(points) if isinstance(points, list) else None,  # None: a selection
                "restored": sum(1 for a in amis if a.get("status") == "SUCCEEDED") if isinstance(amis, list) else None,
                "amis": len(amis) if isinstance(amis, list) else None,
                "imageIds": [a["imageId"] for a in amis if a.get("imageId")] if isinstance(amis, list) else [],
            },
            "recoveryPointBucket": request.get("recoveryPointBucket"),
            "tier": workflow.requested_tier(request),
            "startedAt": workflow.stamp(started),
            "stoppedAt": workflow.stamp(stopped) if stopped else None,
            "durationSeconds": int((stopped - started).total_seconds()) if stopped else None,
            "error": described.get("error"),
        }
    return {
        "executionArn": listed["executionArn"],
        "name": listed["name"],
        "status": described["status"],
        "recoveryPoint": request.get("recoveryPoint"),
        "recoveryPointBucket": request.get("recoveryPointBucket"),
        "imageId": facts.get("imageId") if described["status"] == "SUCCEEDED" else None,
        "storageClass": facts.get("storageClass"),
        "archiveStatus": facts.get("archiveStatus"),
        "tier": facts.get("restoreTier") or facts.get("tier") or workflow.requested_tier(request),
        "startedAt": workflow.stamp(started),
        "stoppedAt": workflow.stamp(stopped) if stopped else None,
        "durationSeconds": int((stopped - started).total_seconds()) if stopped else None,
        "copySeconds": between("restoreRequestedAt", "copyReadyAt"),
        "imageSeconds": between("imageRequestedAt", "imageAvailableAt"),
        "error": described.get("error"),
    }


@cli.command("history")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="How many executions, newest first.")
@stack_option
@aws_options
@click.pass_context
def history_command(ctx: click.Context, /, limit: int, stack: str | None, **given: Any) -> int:
    """Past restores: outcome, AMI id, class, tier and durations."""
    config = settings(ctx, given)
    aws = config.aws()
    listed = workflow.executions(aws, workflow.state_machine_arn(aws, stack or workflow.default_stack()), limit)
    with ThreadPoolExecutor(max_workers=POOL_SIZE) as pool:
        found = list(pool.map(lambda e: history_row(aws, e), listed))
    if config.json:
        emit_json(found)
        return 0
    out = console()
    if not found:
        out.print("No restores yet.")
        return 0
    table = new_table("STARTED", "RECOVERY POINT", "OUTCOME", "AMI", "CLASS", "TIER", "TOTAL", "COPY", "IMAGE")

    def took(seconds: int | None) -> str:
        return estimate.duration(seconds) if seconds is not None else "-"

    for row in found:
        outcome = row["status"] + (f" {row['error']}" if row["error"] else "")
        if "batch" in row:
            batch, asked = row["batch"], row["batch"]["recoveryPoints"]
            table.add_row(
                row["startedAt"].replace("T", " ")[:16] + "Z",
                f"batch of {asked if asked is not None else 'a selection'} in s3://{row['recoveryPointBucket']}",
                outcome,
                f"{batch['restored']} of {batch['amis']} AMIs" if batch["amis"] is not None else "-",
                "-",
                row["tier"] or "-",
                took(row["durationSeconds"]),
                "-",
                "-",
            )
            continue
        table.add_row(
            row["startedAt"].replace("T", " ")[:16] + "Z",
            f"s3://{row['recoveryPointBucket']}/{row['recoveryPoint']}",
            outcome,
            row["imageId"] or "-",
            (row["storageClass"] or "-") + (f"/{row['archiveStatus']}" if row["archiveStatus"] else ""),
            row["tier"] or "-",
            took(row["durationSeconds"]),
            took(row["copySeconds"]),
            took(row["imageSeconds"]),
        )
    print_table(out, table)
    return 0


# --- drill ------------------------------------------------------------------------------------------------------------


@cli.group("drill", invoke_without_command=True)
@aws_options
@click.pass_context
def drill_group(ctx: click.Context, /, **given: Any) -> None:
    """Restore drills: restore archived AMIs on purpose, check them, remove them, and keep the times (docs/drills.md)."""
    settings(ctx, given)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help(), err=True)
        ctx.exit(2)


def took_hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} h"


def drill_outcome(passed: bool | None, status: str, error: str | None) -> str:
    if passed is not None:
        return ("PASSED" if passed else "FAILED") + (f" {error}" if error and not passed else "")
    return status + (f" {error}" if error else "")


def show_drill(config: Settings, found: drills.Drill, out: Console) -> int:
    """The drill as read now, and the exit code: 0 running or passed, 1 failed or ended otherwise."""
    report = found.report
    failed = found.status not in ("RUNNING", "SUCCEEDED")
    if config.json:
        emit_json(found.as_json())
    else:
        print_drill(config, found, out)
    if failed:
        cause = drills.readable_report_cause((report or {}).get("cause")) or found.cause or ""
        click.echo(f"{PROG}: drill {found.status}: {found.error or '-'}: {one_line(cause)[:300]}", err=True)
        return 1
    return 0


def print_drill(config: Settings, found: drills.Drill, out: Console) -> None:
    report = found.report
    grid = Table.grid(padding=(0, 2))
    for label, value in (
        ("Drill", found.name), ("Status", found.status + (f" (in {found.state})" if found.status == "RUNNING" and found.state else "")),
        ("Started", when(found.started)), ("Ended", when(found.stopped) if found.stopped else "-"),
        ("Asked", ", ".join(f"{k} {v}" for k, v in found.request.items()) or "the defaults"),
    ):  # fmt: skip
        grid.add_row(f"{label}:", value)
    print_table(out, grid)
    if found.archives:
        table = new_table("ARCHIVE", "CLASS", "TIER", "RESTORE", "STAGE", "OUTCOME", "TOTAL", "COPY", "IMAGE")
        results = {r["recoveryPoint"]: r for r in (report or {}).get("archives", [])}
        stages = {p.arn: p for p in found.restores}
        for item in found.archives:
            result = results.get(f"s3://{item['bucket']}/{item['recoveryPoint']}")
            restore = stages.get(item["child"])
            times = (result or {}).get("hours") or {}
            table.add_row(
                item["amiName"], item["storageClass"], item["tier"], restore.status if restore else "not started",
                restore.stage if restore else "-", ("PASSED" if result["passed"] else "FAILED") if result else "-",
                took_hours(times.get("total")), took_hours(times.get("copy")), took_hours(times.get("image")),
            )  # fmt: skip
        print_table(out, table)
    if report is not None:
        cleanup = report.get("cleanup") or {}
        out.print(f"Outcome: {drill_outcome(report['passed'], found.status, report.get('error'))}; cost about ${report['costUsd']:.4f}; "
                  + ("nothing left in AWS" if cleanup.get("clean") else f"LEFT IN AWS: {cleanup.get('left')}"))  # fmt: skip
    elif found.status != "RUNNING":
        out.print(f"Outcome: {found.status} {found.error or ''}: {one_line(found.cause or '')}".rstrip(": "))
    out.print(f"Console: {workflow.console_url(config.aws().region, found.arn)}")


@drill_group.command("run")
@click.option("--name", "pattern", default="*", show_default=True, help="Drill archived AMIs whose name matches this glob.")
@click.option("--boot", is_flag=True, help="Also boot each restored AMI once (needs the stack's DrillSubnetId).")
@click.option("--selection", type=click.Choice(["random", "newest"]), default="random", show_default=True, help="Which matching archives.")
@click.option("--count", type=click.IntRange(1, drills.MAX_DRILL_COUNT), default=1, show_default=True, help="How many archives.")
@click.option("--tier", type=click.Choice(["Bulk", "Standard", "Expedited"]), default="Bulk", show_default=True, help="Retrieval tier.")
@click.option("--wait", is_flag=True, help="Then wait for the drill to end and show its outcome (exit 1 if it failed).")
@stack_option
@interval_option
@aws_options
@click.pass_context
def drill_run_command(
    ctx: click.Context, /, pattern: str, boot: bool, selection: str, count: int, tier: str, wait: bool, stack: str | None,
    interval: float | None, **given: Any,
) -> int:  # fmt: skip
    """Start a restore drill now (one drill at a time: the stack refuses a second while one runs)."""
    config = settings(ctx, given)
    if (problem := drills.glob_problem(pattern)) is not None:
        raise CliError(problem)
    aws = config.aws()
    machine, table = drills.drill_outputs(aws, stack or workflow.default_stack())
    body = drills.payload(pattern, selection, count, tier, boot)
    arn = drills.start(aws, machine, body)
    out = console()
    if not wait:
        if config.json:
            emit_json({"executionArn": arn, "consoleUrl": workflow.console_url(aws.region, arn), "input": body})
        else:
            out.print(f"Started the drill {arn.rsplit(':', 1)[1]} of archives matching '{pattern}' ({selection}, {count}, {tier}"
                      f"{', boot check' if boot else ''}): follow it with `{PROG} drill status`.")  # fmt: skip
            out.print(f"Execution: {arn}")
        return 0
    delay = interval if interval is not None else 0.2
    while aws.sfn().describe_execution(executionArn=arn)["status"] == "RUNNING":
        time.sleep(delay)
        delay = interval if interval is not None else min(delay * 1.5, 30.0)
    return show_drill(config, drills.read_drill(aws, arn, table), out)


@drill_group.command("status")
@click.argument("reference", metavar="[EXECUTION|NAME]", required=False)
@stack_option
@aws_options
@click.pass_context
def drill_status_command(ctx: click.Context, /, reference: str | None, stack: str | None, **given: Any) -> int:
    """A drill (default: the newest): its state, each archive's restore stage, and its outcome once recorded."""
    config = settings(ctx, given)
    aws = config.aws()
    machine, table = drills.drill_outputs(aws, stack or workflow.default_stack())
    return show_drill(config, drills.read_drill(aws, drills.newest(aws, machine, reference), table), console())


@drill_group.command("history")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="How many drills, newest first.")
@stack_option
@aws_options
@click.pass_context
def drill_history_command(ctx: click.Context, /, limit: int, stack: str | None, **given: Any) -> int:
    """Past drills (outcome, archives, measured restore times, cost) and the trend of restore times per class and tier."""
    config = settings(ctx, given)
    aws = config.aws()
    machine, table = drills.drill_outputs(aws, stack or workflow.default_stack())
    rows = drills.past_drills(aws, machine, table, limit)
    trend = drills.trend(rows)
    if config.json:
        emit_json({"drills": rows, "trend": trend})
        return 0
    out = console()
    if not rows:
        out.print(f"No drills yet: start one with `{PROG} drill run`.")
        return 0
    table_out = new_table("STARTED", "DRILL", "OUTCOME", "ARCHIVE", "CLASS", "TIER", "TOTAL", "COPY", "IMAGE", "COST")
    for row in rows:
        outcome = drill_outcome(row["passed"], row["status"], row["error"])
        cost = f"${row['costUsd']:.2f}" if row["costUsd"] is not None else "-"
        started = row["startedAt"].replace("T", " ")[:16] + "Z"
        archives = row["archives"] or [None]
        for index, a in enumerate(archives):
            first = index == 0
            table_out.add_row(
                started if first else "", row["name"] if first else "", outcome if first else "",
                f"{a['amiName']} {'passed' if a['passed'] else 'FAILED'}" if a else "-", a["storageClass"] if a else "-",
                a["tier"] if a else "-", took_hours(a["hours"]["total"]) if a else "-", took_hours(a["hours"]["copy"]) if a else "-",
                took_hours(a["hours"]["image"]) if a else "-", cost if first else "",
            )  # fmt: skip
    print_table(out, table_out)
    if trend:
        out.print("")
        out.print(f"Restore times measured by these {len(rows)} drills (restore start to image available), per class and tier:")
        trend_out = new_table("CLASS", "TIER", "RESTORES", "MIN", "MEDIAN", "MAX", "OLDEST TO NEWEST")
        for t in trend:
            trend_out.add_row(t["storageClass"], t["tier"], str(t["restores"]), took_hours(t["minHours"]), took_hours(t["medianHours"]),
                              took_hours(t["maxHours"]), " ".join(f"{h:.2f}" for h in t["lastHours"]))  # fmt: skip
        print_table(out, trend_out)
    return 0


# --- events -----------------------------------------------------------------------------------------------------------

EVENTBRIDGE_SETTING = '"Send notifications to Amazon EventBridge"'


@cli.group("events", invoke_without_command=True)
@aws_options
@click.pass_context
def events_group(ctx: click.Context, /, **given: Any) -> None:
    """The archive buckets' setting that sends S3's restore events to Amazon EventBridge."""
    settings(ctx, given)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help(), err=True)
        ctx.exit(2)


@events_group.command("status")
@click.option("--bucket", "buckets", multiple=True, help="Bucket to check (repeatable; default: the buckets holding .bin objects).")
@aws_options
@click.pass_context
def events_status_command(ctx: click.Context, /, buckets: tuple[str, ...], **given: Any) -> int:
    """Whether each bucket sends notifications to EventBridge, and how many SNS, SQS and Lambda notifications it has."""
    config = settings(ctx, given)
    check_buckets(buckets)
    aws = config.aws()
    found = notifications.statuses(aws, list(dict.fromkeys(buckets)) or notifications.archive_buckets(aws))
    if config.json:
        emit_json([s.as_json() for s in found])
        return 0
    out = console()
    if not found:
        out.print(f"No bucket of {aws.region} holds archived AMIs (objects <ami-id>.bin): pass --bucket.")
        return 0
    table = new_table("BUCKET", "EVENTBRIDGE", "SNS", "SQS", "LAMBDA")
    for s in found:
        table.add_row(s.bucket, "on" if s.eventbridge else "off", *(str(s.count(kind)) for kind in notifications.KINDS))
    print_table(out, table)
    if off := [s.bucket for s in found if not s.eventbridge]:
        out.print(f"Turn it on, keeping the other notifications: {PROG} events enable {' '.join(f'--bucket {b}' for b in off)}")
    return 0


def kept(setting: notifications.Setting) -> str:
    counts = [f"{setting.count(kind)} to {target}" for kind, target in zip(notifications.KINDS, ("SNS", "SQS", "Lambda"), strict=True)]
    if not any(setting.count(kind) for kind in notifications.KINDS):
        return "it has no other notifications"
    return f"kept its other notifications: {', '.join(counts)}"


def change_buckets(ctx: click.Context, buckets: tuple[str, ...], on: bool, given: dict[str, Any]) -> int:
    config = settings(ctx, given)
    check_buckets(buckets)
    aws = config.aws()
    before = notifications.statuses(aws, list(dict.fromkeys(buckets)))  # every bucket read before any is changed
    out = console()
    results: list[dict[str, Any]] = []
    changed: list[str] = []
    for setting in before:
        try:
            after = notifications.change(aws, setting, on)
        except CliError as error:
            done = f" (already changed: {', '.join(f's3://{b}' for b in changed)})" if changed else ""
            raise CliError(f"{error}{done}", error.exit_code) from error
        changes = setting.eventbridge != on
        effective = aws.now() + notifications.SETTLING if changes and on else None  # the service's clock, as everywhere
        results.append({**after.as_json(), "changed": changes, "takesEffectAbout": archive.iso(effective) if effective else None})
        if changes:
            changed.append(setting.bucket)
        if config.json:
            continue
        if not changes:
            state = "already sends" if on else "does not send"
            out.print(f"s3://{setting.bucket} {state} notifications to Amazon EventBridge: nothing changed.")
        elif effective is not None:
            out.print(
                f"s3://{setting.bucket}: turned on {EVENTBRIDGE_SETTING}; {kept(after)}. AWS takes about five minutes to "
                f"apply it: restore events reach EventBridge from about {when(effective)}."
            )
        else:
            out.print(f"s3://{setting.bucket}: turned off {EVENTBRIDGE_SETTING}; {kept(after)}.")
    if config.json:
        emit_json(results)
    return 0


bucket_option = click.option("--bucket", "buckets", multiple=True, required=True, help="Bucket to change (repeatable).")


@events_group.command("enable")
@bucket_option
@aws_options
@click.pass_context
def events_enable_command(ctx: click.Context, /, buckets: tuple[str, ...], **given: Any) -> int:
    """Turn on the bucket's EventBridge notifications, keeping its other notifications (read, modify, write, verify)."""
    return change_buckets(ctx, buckets, True, given)


@events_group.command("disable")
@bucket_option
@aws_options
@click.pass_context
def events_disable_command(ctx: click.Context, /, buckets: tuple[str, ...], **given: Any) -> int:
    """Turn off the bucket's EventBridge notifications, keeping its other notifications (the workflow then polls)."""
    return change_buckets(ctx, buckets, False, given)


# --- archive ----------------------------------------------------------------------------------------------------------


@cli.group("archive", invoke_without_command=True)
@aws_options
@click.pass_context
def archive_group(ctx: click.Context, /, **given: Any) -> None:
    """The archive side: AWS Backup's EC2 recovery points, stored into S3 by the stack's ArchiveStateMachine."""
    settings(ctx, given)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help(), err=True)
        ctx.exit(2)


@archive_group.command("list")
@click.option("--vault", "vault_names", multiple=True, help="AWS Backup vault to read (repeatable; default: every vault of the Region).")
@aws_options
@click.pass_context
def archive_list_command(ctx: click.Context, /, vault_names: tuple[str, ...], **given: Any) -> int:
    """The vaults' EC2 recovery points, oldest first: created, size, AWS Backup's status, and archived (where to),
    storing (EC2 stores it now) or not archived."""
    config = settings(ctx, given)
    found = archiving.points_with_status(config.aws(), list(dict.fromkeys(vault_names)))
    if config.json:
        emit_json([p.as_json() for p in found])
        return 0
    out = console(PLAIN_WIDTH + 100)  # two ARNs wide
    if not found:
        out.print("No EC2 recovery points in these vaults.")
        return 0
    table = new_table("VAULT", "RECOVERY POINT", "CREATED", "SIZE", "BACKUP", "ARCHIVE", "ARCHIVED TO")
    for p in found:
        table.add_row(p.vault, p.arn, when(p.created), size(p.size_bytes), p.backup_status, p.status, p.archived_to or "-")
    print_table(out, table)
    return 0


def run_line(run: archiving.Run) -> str:
    counts = run.counts()
    found = (f"{counts['archived']} archived, {counts['skipped']} skipped, {counts['failed']} failed, "
             f"{counts['alreadyArchived']} archived before, {counts['deferred']} left for the next run")  # fmt: skip
    return f"Archive run {run.name}: {run.status}" + (f" ({found})" if run.output else "") + (f" {run.error}" if run.error else "")


def report_run(config: Settings, run: archiving.Run) -> int:
    """The run's outcome; exit 0 when it SUCCEEDED (or still runs), 1 otherwise (a failed point fails the run)."""
    if config.json:
        emit_json(run.as_json())
    else:
        out = console()
        out.print(run_line(run))
        for kind in ("archived", "skipped", "failed"):
            for item in run.output.get(kind) or []:
                why = item.get("reason") or item.get("error") or (f"s3://{item['bucket']}/{item['key']}" if kind == "archived" else "")
                out.print(f"  {kind}: {item['recoveryPointArn']} {why}".rstrip())
    if run.status in ("SUCCEEDED", "RUNNING"):
        return 0
    click.echo(f"{PROG}: archive run {run.status}: {run.error or '-'}: {one_line(run.cause or '')}", err=True)
    return 1


@archive_group.command("run")
@click.option("--vault", default=None, help="Only this vault (one of the stack's ArchiveVaultNames).")
@click.option("--older-than-days", type=int, default=None, help="Recovery points older than this (default: ArchiveAfterDays).")
@click.option("--wait", is_flag=True, help="Wait for the run to end, then print its summary.")
@stack_option
@interval_option
@aws_options
@click.pass_context
def archive_run_command(
    ctx: click.Context, /, vault: str | None, older_than_days: int | None, wait: bool, stack: str | None, interval: float | None,
    **given: Any,
) -> int:  # fmt: skip
    """Start the stack's ArchiveStateMachine now, as its daily schedule does (nothing is ever stored twice)."""
    config = settings(ctx, given)
    body = archiving.run_input(vault, older_than_days)  # refused before any AWS call
    aws = config.aws()
    arn = archiving.start_run(aws, archiving.archive_state_machine(aws, stack or workflow.default_stack()), body)
    if not wait:
        if config.json:
            emit_json({"executionArn": arn, "input": body})
        else:
            console().print(f"Started the archive run {arn.rsplit(':', 1)[1]} with {json.dumps(body)}.\nExecution: {arn}")
        return 0
    pause = 0.2
    while (run := archiving.read_run(aws, arn)).status == "RUNNING":
        time.sleep(interval if interval is not None else pause)
        pause = min(30.0, pause * 2)
    return report_run(config, run)


@archive_group.command("status")
@click.argument("execution", metavar="[EXECUTION]", required=False)
@stack_option
@aws_options
@click.pass_context
def archive_status_command(ctx: click.Context, /, execution: str | None, stack: str | None, **given: Any) -> int:
    """An archive run's status and summary (default: the newest run)."""
    config = settings(ctx, given)
    aws = config.aws()
    arn = execution if execution and execution.startswith("arn:") else None
    if arn is None:
        arn = archiving.newest_run(aws, archiving.archive_state_machine(aws, stack or workflow.default_stack()))
    return report_run(config, archiving.read_run(aws, arn))


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)
