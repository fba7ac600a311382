"""Faults a test injects, in one place: API errors, Lambda service errors and image restores that end `failed`.

    aws.faults.request("s3.HeadObject", "SlowDown", 503, times=12)          # answered before the service sees it
    aws.faults.request("s3.RestoreObject", "GlacierExpeditedRetrievalNotAvailable", 503, times=9, match="Expedited")
    aws.faults.lambda_error("RestoreImageFunction", "Sandbox.Timedout")      # the handler ran, Lambda says timeout
    aws.faults.image_failure("Snapshot data is corrupted")                   # the next restored image ends failed
    aws.faults.store_failure("InternalError: the upload failed")             # the next store task ends Failed
    aws.faults.instance_impaired("instance")                                 # the next instance's checks fail

A faulted request has no side effect. An error answer to a HEAD request has no body, as on S3, so the SDK reports
the HTTP status as the code ("403", "404", "503").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RequestFault:
    operation: str  # "s3.HeadObject", "ec2.CreateRestoreImageTask", "sns.Publish"
    code: str
    status: int
    times: int
    match: str | None  # only requests whose body contains this text
    message: str = "injected by the emulator"


@dataclass
class LambdaFault:
    """ "ServiceException" (and other Lambda API errors) fail before the handler runs; "Sandbox.Timedout" after it
    ran to the end, so its side effects happened."""

    function: str  # logical id, e.g. "RestoreImageFunction"
    error: str
    times: int


@dataclass
class ImageFault:
    message: str  # the StateReason message EC2 gives the failed image
    times: int


@dataclass
class InstanceFault:
    check: str  # "instance" or "system": the status check that ends impaired
    times: int


@dataclass
class Faults:
    requests: list[RequestFault] = field(default_factory=list)
    lambdas: list[LambdaFault] = field(default_factory=list)
    images: list[ImageFault] = field(default_factory=list)
    stores: list[ImageFault] = field(default_factory=list)  # the StoreTaskFailureReason of the next store tasks
    instances: list[InstanceFault] = field(default_factory=list)

    def request(self, operation: str, code: str, status: int = 400, times: int = 1, match: str | None = None) -> None:
        self.requests.append(RequestFault(operation, code, status, times, match))

    def lambda_error(self, function: str, error: str, times: int = 1) -> None:
        self.lambdas.append(LambdaFault(function, error, times))

    def image_failure(self, message: str, times: int = 1) -> None:
        self.images.append(ImageFault(message, times))

    def store_failure(self, reason: str, times: int = 1) -> None:
        self.stores.append(ImageFault(reason, times))

    def instance_impaired(self, check: str = "instance", times: int = 1) -> None:
        if check not in ("instance", "system"):
            raise ValueError(f"no {check} status check: instance or system")
        self.instances.append(InstanceFault(check, times))

    def take_request(self, operation: str, body: str) -> RequestFault | None:
        fault = next((f for f in self.requests if f.operation == operation and f.times > 0 and (f.match is None or f.match in body)), None)
        if fault is not None:
            fault.times -= 1
        return fault

    def take_lambda(self, function: str) -> LambdaFault | None:
        fault = next((f for f in self.lambdas if f.function == function and f.times > 0), None)
        if fault is not None:
            fault.times -= 1
        return fault

    def take_image(self) -> str | None:
        fault = next((f for f in self.images if f.times > 0), None)
        if fault is None:
            return None
        fault.times -= 1
        return fault.message

    def take_store(self) -> str | None:
        fault = next((f for f in self.stores if f.times > 0), None)
        if fault is None:
            return None
        fault.times -= 1
        return fault.message

    def take_instance(self) -> str | None:
        fault = next((f for f in self.instances if f.times > 0), None)
        if fault is None:
            return None
        fault.times -= 1
        return fault.check
