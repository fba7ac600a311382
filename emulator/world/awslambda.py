"""A deployed Lambda function as the world sees it: its configuration, what it was invoked with, how Lambda retries it.

Lambda Developer Guide, "Asynchronous invocation" ([L-ASYNC] in facts.py): by default two retries, the event kept up
to 6 h; then the dead-letter queue, if any, receives it. The handler itself (`handler`, the imported module whose
`lambda_handler` runs) is loaded by the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MAX_RETRY_ATTEMPTS = 2  # [L-ASYNC]
DEFAULT_MAX_EVENT_AGE_SECONDS = 6 * 3600  # [L-ASYNC]


@dataclass
class DeployedFunction:
    logical_id: str
    name: str
    module: Any  # the handler's module (ModuleType): its lambda_handler(event, context) runs for each invocation
    environment: dict[str, str]
    timeout: int
    source: Path
    log_group_arn: str
    role_arn: str = ""  # the execution role, as Lambda's CreateFunction answered
    invocations: list[dict[str, Any]] = field(default_factory=list)
    dead_letter_arn: str | None = None
    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS
