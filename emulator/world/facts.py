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
  [EC2-SRW] EC2 User Guide, "How AMI store and restore works" (store-restore-how-it-works) and its API Reference
            (CreateStoreImageTask, DescribeStoreImageTasks, S3ObjectTag): the store task "uses an S3 multipart upload";
            "Further task creation will be rejected until the tasks in progress are less than the limit" (a task is
            accepted while the work in progress is below the quota: the page's 100 GB + 200 GB example); the object
            key is `<ami-id>.bin`, after the path given with the bucket (`bucket/path1/path2`); tasks "listed in
            reverse chronological order", "only tasks from the past 31 days"; MaxResults 1-200, not with ImageIds;
            up to 20 ImageIds; tag keys up to 128 characters, not starting `aws:`, values up to 256. Not storable:
            instance-store-backed AMIs, paravirtual AMIs, AMIs over 5,000 GB, AMIs the account neither owns nor was
            directly shared. https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/store-restore-how-it-works.html
  [S3-TAGS] S3 User Guide, "Categorizing your objects using tags" (object-tagging): up to 10 tags per object, unique
            keys. https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html
  [S3-EVT]  S3 User Guide, "EventBridge event message structure" (ev-events): `Object Created` with `reason` (the API
            that made the object: PutObject, POST Object, CopyObject or CompleteMultipartUpload), `Object Storage
            Class Changed` with `destination-storage-class`. https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
  [S3-LC]   S3 User Guide, "Setting an S3 Lifecycle configuration on a bucket" (how-to-set-lifecycle-configuration-intro)
            and "Transitioning objects" (lifecycle-transition-general-considerations); S3 API Reference, Transition;
            AWS re:Post knowledge center, "s3-lifecycle-rule-delay": lifecycle runs once a day; S3 "rounds the
            transition or expiration date of an object to midnight UTC the next day"; actions are queued and done
            asynchronously (a delay between the rule being satisfied and the action, days in the worst case); a new
            configuration takes "a few minutes" to propagate; Days 0 or more for GLACIER_IR, GLACIER, DEEP_ARCHIVE,
            INTELLIGENT_TIERING, more than 30 for STANDARD_IA and ONEZONE_IA; objects under 128 KB do not transition
            by default (TransitionDefaultMinimumObjectSize all_storage_classes_128K).
  [BKP]     AWS Backup Developer Guide: DeleteRecoveryPoint (API_DeleteRecoveryPoint: HTTP 200 and EXPIRED when the role
            lacks permission), "Backup deletion" (deleting-backups: EXPIRED when an EBS Snapshot Lock is applied),
            "AWS Backup Vault Lock" (vault-lock: "If any user (including the root user) attempts to delete a backup
            ... in a locked vault, AWS Backup will deny the operation"), "Legal holds" (legalhold), "Monitoring AWS
            Backup events using Amazon EventBridge" (eventbridge: `Backup Job State Change`, the recovery point ARN in
            `resources`), "Logically air-gapped vault" (recovery points `arn:aws:backup:...:recovery-point:<id>`),
            ListTags (resource ARNs other than arn:aws:backup "may return one of the exceptions listed"); AWS re:Post
            knowledge center "backup-recovery-points-hold-vault" for the legal hold message.
  [EB-SCH]  EventBridge User Guide, "Rate expressions" (eb-rate-expressions: a rate "starts when you create the
            scheduled event rule"), "Cron expressions" (eb-scheduled-rule-pattern: six fields, UTC, day-of-week 1-7 or
            SUN-SAT), "Events from AWS services" (a scheduled rule's event: detail-type "Scheduled Event", source
            "aws.events", the rule's ARN in resources, an empty detail).
  [EC2-ST]  EC2 User Guide, "Status checks for your instances" (monitoring-system-instance-status-check): EC2 runs the
            system and instance checks every minute; `initializing` while an instance launches, then `ok` or
            `impaired`. CLI reference deregister-image and the EC2 API model: DeleteAssociatedSnapshots deletes the
            AMI's snapshots, except one associated with another AMI.
"""

from __future__ import annotations

GB = 10**9
MB = 10**6
GIB = 2**30  # EBS volume and snapshot sizes are in GiB (EBS User Guide), as are EC2's store and restore quotas' "GB"
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

# --- EC2 store tasks [EC2-SRW] --------------------------------------------------------------------------------------
# [EC2-SR] current page: 1,200 GB of store work (snapshot data) in progress per account (600 GB in older versions).
# ASSUMPTION: counted per Region like the restore quota, on the AMI's snapshot data (or its object, when larger).
IMAGE_STORE_QUOTA_GB = 1200.0
MAX_STORABLE_AMI_GB = 5000  # [EC2-SR] the AMI's size before compression
STORE_TASKS_VISIBLE_DAYS = 31  # [EC2-SRW]
STORE_TASKS_PAGE = (1, 200)  # [EC2-SRW] MaxResults
STORE_TASKS_IMAGE_IDS_MAX = 20  # [EC2-SRW]
STORE_OBJECT_REASON = "CompleteMultipartUpload"  # [EC2-SRW] "uses an S3 multipart upload" -> S3's reason [S3-EVT]
# ASSUMPTION: store work is compressed to 40-100 % of the snapshot data (drawn per AMI); AWS says only that the object
# "might be smaller than the sum of the sizes of the snapshots".
COMPRESSION_RANGE = (0.4, 1.0)
# ASSUMPTION: an injected store failure shows half-way through the task.
STORE_FAILURE_AT = 0.5
OBJECT_TAGS_MAX = 10  # [S3-TAGS]
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256  # [EC2-SRW] S3ObjectTag

# --- S3 lifecycle [S3-LC] -------------------------------------------------------------------------------------------
# Minimum Days of a Transition per target class (from S3 Standard).
LIFECYCLE_MIN_DAYS = {"GLACIER_IR": 0, "GLACIER": 0, "DEEP_ARCHIVE": 0, "INTELLIGENT_TIERING": 0, "STANDARD_IA": 30, "ONEZONE_IA": 30}
# The waterfall S3 allows: a class transitions only to one further down (lifecycle-transition-general-considerations).
CLASS_ORDER = ("STANDARD", "STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
LIFECYCLE_MIN_OBJECT_BYTES = 128 * 1024  # [S3-LC] all_storage_classes_128K, the default
# ASSUMPTION: "a few minutes" of propagation: 5 min; each day's run reaches an object within 0-24 h after midnight UTC
# (uniform, drawn per object); re:Post: runs start at midnight UTC and "typically complete sometime during" that day.
LIFECYCLE_PROPAGATION_SECONDS = 5 * MINUTE
LIFECYCLE_RUN_SPREAD_SECONDS = 24 * HOUR

# --- AWS Backup [BKP] -------------------------------------------------------------------------------------------------
# ASSUMPTION: a deleted recovery point is DELETING for 1-10 min (drawn) before it is gone with its AMI and snapshots.
BACKUP_DELETING_RANGE = (1 * MINUTE, 10 * MINUTE)
LEGAL_HOLD_MESSAGE = "The recovery point cannot be deleted because it has active legal hold(s)"  # [BKP] re:Post
BACKUP_LIST_PAGE = (1, 1000)  # [BKP] ListRecoveryPointsByBackupVault MaxResults (botocore model)
BACKUP_JOB_WINDOW_HOURS = 8  # ASSUMPTION: startBy = creation + 8 h, as in the COMPLETED example of [BKP]

# --- EC2 instances [EC2-ST] ---------------------------------------------------------------------------------------------
# ASSUMPTION: the status checks of a launched instance pass 2-6 min after launch (AWS publishes no figure; the checks
# run every minute once the instance is running).
STATUS_CHECKS_RANGE = (2 * MINUTE, 6 * MINUTE)
