"""What AWS documents, and what the emulated world assumes where AWS is silent: every figure the world uses.

Each figure carries its source or the word ASSUMPTION. Nothing here is taken from the handlers in functions/: the
workflow has to cope with this world, not agree with it (tests/static checks that no emulator module imports a
handler or repeats one of its constants).

Sources
  [S3-RET]  S3 User Guide, "Understanding archive retrieval options" (restoring-objects-retrieval-options):
            Flexible Retrieval Expedited 1-5 min "for all but the largest archived objects (250 MB+)", Standard
            3-5 h, Bulk 5-12 h; Deep Archive Standard "within 12 hours", Bulk "within 48 hours". Expedited and
            Standard on objects over 250 MB: "up to 300 MB/s" after the first bytes.
  [S3-RST]  S3 User Guide, "Restoring an archived object" (restoring-objects): the copy expires Days after it is
            restored, at the following midnight UTC; reissuing RestoreObject on a restored copy "updates the
            expiration period relative to the current time".
  [EC2-EC]  EC2 API Reference, "Eventual consistency in the Amazon EC2 API" (query-api-troubleshooting): the results of
            an action that creates or changes a resource "might not be immediately available to all subsequent
            commands"; a Describe of a just-created resource may not list it, or answer InvalidAMIID.NotFound for its
            id; clients should retry with exponential back-off. AWS states no duration.
  [EC2-SR]  EC2 User Guide, "Store and restore an AMI using S3" (ami-store-restore): AMIs up to 5,000 GB; restore
            time "depends on the size of the AMI"; in-progress restore work is limited to 600 GB per account
            (300 GB in older versions of the page) and further task creation is rejected. CreateStoreImageTask
            stores the AMI's name, description, registration date, owner account and a timestamp "as S3 metadata
            tags" (the keys are not documented).
  [EB]      S3 User Guide, "Amazon S3 Event Notifications with EventBridge" (ev-events, eventbridge delivery): at
            least once, usually seconds, sometimes a minute or more. EC2 User Guide (monitor-ami-events): "EC2 AMI
            State Change" for images, best effort.
  [S3-EB]   S3 User Guide, "Enabling Amazon EventBridge" (enable-event-notifications-eventbridge).
  [SFN-Q]   Step Functions Developer Guide, "Service quotas" and "bp-history-limit": 25,000 history events per
            execution, hard; the event that reaches it is the ExecutionFailed itself (States.Runtime).
  [L-ASYNC] Lambda Developer Guide, "Asynchronous invocation": two retries by default, the first after about a
            minute, the second after about two; then the dead-letter queue or destination.
  [SFN-LIM] Step Functions Developer Guide, "Step Functions service quotas": 256 KiB of data as a UTF-8 encoded string
            at most for the input or output of a task, a state or an execution (and for StartExecution's input); a
            state or task over it fails States.DataLimitExceeded, which States.ALL does not catch ("Error names").
  [SFN-EB]  Step Functions Developer Guide, "Automating Step Functions event delivery with EventBridge": every status
            change of a Standard execution (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is an event "Step
            Functions Execution Status Change" from aws.states, with the execution's ARN, name, status, dates, input,
            output, error and cause.
  [SFN-TO]  Amazon States Language, "TimeoutSeconds" (top level): the execution ends TIMED_OUT (States.Timeout) when it
            runs longer; its `.sync` jobs are stopped with it (Step Functions DG, "Run a Job (.sync)").
"""

from __future__ import annotations

GB = 10**9
MB = 10**6
MINUTE, HOUR = 60, 3600

# --- sizes -------------------------------------------------------------------------------------------------------
# [EC2-SR] AMIs up to 5,000 GB. ASSUMPTION: compressed objects spread log-uniformly from 8 GB (a minimal root
# volume) to 4 TB, so every decade of size is as likely as the next: the workflow must not tune for one size.
SIZE_RANGE_GB = (8, 4000)

# --- S3 restores ------------------------------------------------------------------------------------------------
# [S3-RET] documented windows in seconds as (low, high); None where AWS documents no lower bound.
DOCUMENTED_RESTORE_WINDOW: dict[tuple[str, str], tuple[float | None, float]] = {
    ("GLACIER", "Expedited"): (1 * MINUTE, 5 * MINUTE),
    ("GLACIER", "Standard"): (3 * HOUR, 5 * HOUR),
    ("GLACIER", "Bulk"): (5 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Standard"): (None, 12 * HOUR),
    ("DEEP_ARCHIVE", "Bulk"): (None, 48 * HOUR),
}
# ASSUMPTION: where no lower bound is documented, most restores still take a quarter of the upper bound or more.
UNDOCUMENTED_LOW_FRACTION = 0.25
# ASSUMPTION on the spread: 10 % finish early (down to a fifth of the low end), 75 % inside the window, 15 % late
# (up to 1.5 x the high end). AWS publishes windows, not distributions; this puts real mass outside them.
EARLY_SHARE, LATE_SHARE = 0.10, 0.15
EARLY_FLOOR_FRACTION, LATE_CEILING_FACTOR = 0.2, 1.5
# [S3-RET] large objects come back at "up to 300 MB/s". ASSUMPTION: a given restore gets 100-300 MB/s.
LARGE_OBJECT_BYTES = 250 * MB
RESTORE_THROUGHPUT_RANGE = (100 * MB, 300 * MB)
# [S3-RET] Expedited is faster than Standard, Standard than Bulk: a restore in progress can be sped up by asking
# again with a faster tier, never slowed down.
TIER_RANK = {"Expedited": 0, "Standard": 1, "Bulk": 2}  # lower is faster
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")  # [S3-RST] the classes whose objects need a restore to be read

# --- EC2 store and restore tasks ------------------------------------------------------------------------------------
# [EC2-SR] documents no throughput for CreateRestoreImageTask. ASSUMPTION: 2-8 minutes to start, then 40-250 MB/s
# (log-uniform), so 100 GB takes 9-50 min and 4 TB 5-28 h: a large AMI can outlast any fixed one-day deadline.
IMAGE_STARTUP_RANGE = (2 * MINUTE, 8 * MINUTE)
IMAGE_THROUGHPUT_RANGE = (40 * MB, 250 * MB)
# ASSUMPTION: CreateStoreImageTask writes at the same rates (it only shapes the archive side's history here).
STORE_THROUGHPUT = 100 * MB
# [EC2-SR] current page: 600 GB of restore work in progress per account. ASSUMPTION: counted on the object's size.
IMAGE_RESTORE_QUOTA_GB = 600.0
# [EC2-SR] what a store task records as object tags. ASSUMPTION: the tag keys (the guide lists what, not the keys).
STORE_TAG_KEYS = ("ami-name", "ami-description", "ami-creation-date", "ami-owner-id", "ami-store-date")

# --- EventBridge -------------------------------------------------------------------------------------------------
# [EB] S3 -> EventBridge delivery is "typically ... seconds but can sometimes take a minute or longer", at least once;
# EC2's AMI state events are best effort. ASSUMPTION on the spread: 90 % within 0.5-10 s, 9 % 10-60 s, 1 % 1-5 min.
EVENT_DELAY_BANDS = ((0.90, 0.5, 10.0), (0.09, 10.0, 60.0), (0.01, 60.0, 300.0))
# [S3-EB] "it can take up to five minutes" for a bucket's EventBridge setting to take effect.
EVENTBRIDGE_SETTLING_SECONDS = 5 * MINUTE

# --- Step Functions and Lambda ------------------------------------------------------------------------------------
HISTORY_EVENTS_QUOTA = 25_000  # [SFN-Q]
HISTORY_QUOTA_CAUSE = "The execution reached the maximum number of history events ({quota})."  # [SFN-Q]
EXECUTION_MAX_SECONDS = 365 * 24 * HOUR  # [SFN-Q] a Standard execution lives at most a year
STATE_DATA_LIMIT_BYTES = 256 * 1024  # [SFN-LIM]
# [SFN-LIM] ASSUMPTION: the wording of the cause (AWS's own, as reported by users; the guide gives no text).
DATA_LIMIT_CAUSE = "The state/task '{name}' returned a result with a size exceeding the maximum number of bytes service limit."
STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"  # [SFN-EB]
ASYNC_RETRY_MINUTES = (1, 2)  # [L-ASYNC] the waits before the first and the second retry
