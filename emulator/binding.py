"""Which emulator serves an account: the patched moto services look it up per request.

The emulator is attached to moto's own per-account S3 backend, so this package keeps no mutable state of its own:
two emulators with different account ids share nothing, and a new mock session starts with none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moto.s3.models import s3_backends

if TYPE_CHECKING:
    from emulator.session import Emulator

PARTITION = "aws"


def bind(account_id: str, emulator: Emulator | None) -> None:
    s3_backends[account_id][PARTITION].emulated_by = emulator  # type: ignore[attr-defined]


def bound(account_id: str) -> Emulator | None:
    found: Emulator | None = getattr(s3_backends[account_id][PARTITION], "emulated_by", None)
    return found


def require(account_id: str) -> Emulator:
    emulator = bound(account_id)
    if emulator is None:
        raise RuntimeError(f"no emulator is serving account {account_id}")
    return emulator
