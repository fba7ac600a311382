"""Which emulated account serves a request: the patched moto services look it up per request.

The account is attached to moto's own per-account S3 backend, so the adapters keep no mutable state of their own:
two emulators with different account ids share nothing, and a new mock session starts with none. `Account` lists
what the adapters use of an emulator (the facade, emulator/facade.py, provides it; the adapters never import it).
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from moto.s3.models import s3_backends

from emulator.world.awslambda import DeployedFunction
from emulator.world.backup import BackupModel
from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.ec2 import EC2Model
from emulator.world.events import EventBus
from emulator.world.faults import Faults
from emulator.world.lifecycle import LifecycleModel
from emulator.world.s3 import S3Model
from emulator.world.schedule import Scheduler

PARTITION = "aws"
Credentials = tuple[str, str | None]  # access key id, session token


class Account(Protocol):
    account_id: str
    region: str
    world: World
    clock: VirtualClock
    s3: S3Model
    ec2: EC2Model
    lifecycle: LifecycleModel
    backup: BackupModel
    eventbridge: EventBus
    schedules: Scheduler
    faults: Faults
    requests: Counter[str]  # "s3.HeadObject": HTTP requests sent, SDK retries included
    functions: dict[str, DeployedFunction]  # by function name
    # with IAM enforced: the credentials of each state machine's role (its ARN), as which its executions act
    invokers: dict[str, Credentials]
    runtime_writes: list[tuple[str, str, bool]]  # (function, action, allowed) the Lambda runtime tried


def bind(account_id: str, account: Account | None) -> None:
    s3_backends[account_id][PARTITION].emulated_by = account  # type: ignore[attr-defined]


def bound(account_id: str) -> Account | None:
    found: Account | None = getattr(s3_backends[account_id][PARTITION], "emulated_by", None)
    return found


def require(account_id: str) -> Account:
    account = bound(account_id)
    if account is None:
        raise RuntimeError(f"no emulator is serving account {account_id}")
    return account
