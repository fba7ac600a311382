"""A deployed Lambda function as the world sees it: its configuration, what it was invoked with, how Lambda retries it.

Lambda Developer Guide, "Asynchronous invocation" ([L-ASYNC] in facts.py): by default two retries, the event kept up
to 6 h; then the dead-letter queue, if any, receives it. The handler itself (`module`, the imported module whose
`lambda_handler` runs) is loaded by the adapters when it is first needed: Lambda runs a function's initialization
code (its module scope) in the Init phase of the first invocation of an execution environment, not when the function
is created (Lambda Developer Guide, "Lambda execution environment lifecycle").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MAX_RETRY_ATTEMPTS = 2  # [L-ASYNC]
DEFAULT_MAX_EVENT_AGE_SECONDS = 6 * 3600  # [L-ASYNC]


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    init: Callable[[], Any]  # imports the handler's module (Init): called once, when `module` is first read
    environment: dict[str, str]
    timeout: int
    source: Path
    log_group_arn: str
    role_arn: str = ""  # the execution role, as Lambda's CreateFunction answered
    invocations: list[dict[str, Any]] = field(default_factory=list)
    dead_letter_arn: str | None = None
    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS
    _module: Any = field(default=None, repr=False)
    _init_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def module(self) -> Any:
        """The handler's module (ModuleType): its lambda_handler(event, context) runs for each invocation."""
        if self._module is None:
            loaded = self.init()  # (not under the lock: it may wait for the handlers' turn, which the clock knows of)
            with self._init_lock:  # two first invocations at once: both use the module the first one set
                if self._module is None:
                    self._module = loaded
        return self._module

    @module.setter
    def module(self, value: Any) -> None:
        self._module = value
