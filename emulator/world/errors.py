"""An AWS error as the emulated world raises it: the code and HTTP status AWS answers with, the message it gives.

The adapters turn it into the error moto's serializers write (emulator/adapters/errors.py): the world knows nothing of
moto.
"""

from __future__ import annotations


class AWSError(Exception):
    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
