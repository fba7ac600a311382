"""The world's errors (emulator/world/errors.py) in the form moto's serializers write, with the status AWS sends."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from moto.s3.exceptions import S3ClientError

from emulator.world.errors import AWSError

F = TypeVar("F", bound=Callable[..., Any])


class EmulatedError(S3ClientError):
    """An AWS error moto does not model. S3's handler serializes only its own error class (this is one); EC2's and the
    others serialize any ServiceException, which this is too. wire.py gives it its HTTP status."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(code, message)
        self.http_status = http_status


def as_moto(error: AWSError) -> EmulatedError:
    return EmulatedError(error.code, error.message, error.http_status)


def answering_world_errors(function: F) -> F:
    """A moto response method that calls the world: the world's AWSError becomes the error moto serializes."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except AWSError as error:
            raise as_moto(error) from error

    return call  # type: ignore[return-value]
