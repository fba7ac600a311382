"""KMS as moto serves it, with the asymmetric key material drawn when it is first used.

moto draws an RSA-2048 private key for every CreateKey, symmetric keys included (KMS uses none for them: Sign,
Verify and GetPublicKey refuse a symmetric key). Drawing it took 60 ms of every stack deployment, most of a
deployment's time. The key is now drawn on the first Sign, Verify or GetPublicKey, the same key moto would give.
"""

from __future__ import annotations

from typing import Any

from moto.kms import models as kms_models
from moto.kms import utils as kms_utils


class _Undrawn:
    def __init__(self, key_spec: str) -> None:
        self.key_spec = key_spec


def _private_key(key: Any) -> Any:
    value = key.__dict__["_private_key"]
    if isinstance(value, _Undrawn):
        value = key.__dict__["_private_key"] = kms_utils.generate_private_key(value.key_spec)
    return value


def _set_private_key(key: Any, value: Any) -> None:
    key.__dict__["_private_key"] = value


def install() -> None:
    kms_models.generate_private_key = _Undrawn  # type: ignore[attr-defined,assignment]  # what Key.__init__ calls
    kms_models.Key.private_key = property(_private_key, _set_private_key)  # type: ignore[assignment]
