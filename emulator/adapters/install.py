"""Patch moto once per process: every adapter's `install`, in one place (emulator/adapters/process.py says why once)."""

from __future__ import annotations

from emulator.adapters import awslambda, backup, ec2, events, iam, process, s3, speed, stepfunctions, wire


def install() -> None:
    """Idempotent. The patches keep no emulator state: they look the emulated account up per request (registry.py)."""
    for name, module in (
        ("process", process),
        ("wire", wire),
        ("s3", s3),
        ("ec2", ec2),
        ("backup", backup),
        ("iam", iam),
        ("awslambda", awslambda),
        ("stepfunctions", stepfunctions),
        ("events", events),
        ("speed", speed),
    ):
        process.install_once(name, module.install)
