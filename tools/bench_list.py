"""`make bench-list`: `glacier-ami-restore list` over 10,000 archived AMIs on the emulator server.

Starts the emulator server on 127.0.0.1, puts N `.bin` objects (GLACIER, tagged as CreateStoreImageTask tags them) in
a bucket of their own through the public S3 API, then
  1. times the installed command, `python -m glacier_ami_restore list --bucket ... --output json`, in a subprocess
     (process start, every request, the JSON), with the CPU seconds it and the server spent meanwhile and the load
     average (the machine may be shared: CPU seconds depend less on the other work than wall time does), and
  2. counts the HTTP requests the same listing makes (a botocore before-send hook on the command's session).

    python -m tools.bench_list [--objects 10000] [--workers 32] [--in-process]

--in-process runs the same listing against the in-process moto-backed emulator instead (no HTTP server).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from glacier_ami_restore.archive import list_archive
from glacier_ami_restore.aws import Aws

ROOT = Path(__file__).resolve().parent.parent
SERVER_MODULE = "tools.server" if (ROOT / "tools" / "server.py").exists() else "emulator.server"
BUCKET = "bench-ami-archive"
REGION = "us-east-1"
FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU of a running process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator_server() -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(  # noqa: S603 - this repository's server module, on 127.0.0.1
        [sys.executable, "-m", SERVER_MODULE, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if process.stdout is None:
        raise RuntimeError("no pipe from the emulator server")
    banner = ""
    while "Ctrl-C" not in banner:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator server exited early: {banner}")
        banner += line
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def seed(endpoint: str, count: int, workers: int) -> float:
    make: Any = boto3.client
    keys = {"aws_access_key_id": FAKE["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": FAKE["AWS_SECRET_ACCESS_KEY"]}
    s3 = make("s3", endpoint_url=endpoint, region_name=REGION, config=Config(max_pool_connections=workers), **keys)
    s3.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()

    def put(number: int) -> None:
        tags = f"ami-name=bench-server-{number % 1000:03d}&ami-description=bench%20{number}&ami-owner-id=123456789012"
        s3.put_object(Bucket=BUCKET, Key=f"ami-{number:017x}.bin", Body=b"AMI", StorageClass="GLACIER", Tagging=tags)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(put, range(count)))
    return time.perf_counter() - started


def timed_command(endpoint: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the command, AMIs listed)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **FAKE}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - this repository's command line
        [sys.executable, "-m", "glacier_ami_restore", "--endpoint-url", endpoint, "list", "--bucket", BUCKET, "--output", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the server is not reaped yet: the command's alone
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu, len(re.findall(r'"imageId"', done.stdout))


def counted_listing(endpoint: str) -> tuple[int, int, float]:
    os.environ.update(FAKE)
    aws = Aws(None, REGION, endpoint)
    started = time.perf_counter()
    found = list_archive(aws, [BUCKET])
    return len(found), aws.requests, time.perf_counter() - started


def bench_in_process(count: int, workers: int) -> int:
    from emulator.facade import Emulator  # the harness only; the listing itself goes through boto3

    with Emulator() as emulated:
        s3 = emulated.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        started = time.perf_counter()
        tags = "ami-name=bench-server&ami-owner-id=123456789012"

        def put(number: int) -> None:
            s3.put_object(Bucket=BUCKET, Key=f"ami-{number:017x}.bin", Body=b"AMI", StorageClass="GLACIER", Tagging=tags)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(put, range(count)))
        print(f"seeded {count:,} archived objects with tags in {time.perf_counter() - started:.1f} s (in-process emulator)")
        aws = Aws(None, REGION, None)
        started = time.perf_counter()
        found = list_archive(aws, [BUCKET])
        elapsed = time.perf_counter() - started
    print(f"listing: {len(found):,} AMIs in {elapsed:.1f} s; requests: {aws.requests:,} = {aws.requests / len(found):.3f} per object")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=32, help="threads seeding the bucket")
    parser.add_argument("--in-process", action="store_true", help="the in-process moto-backed emulator, no server")
    args = parser.parse_args(argv)
    if args.in_process:
        return bench_in_process(args.objects, args.workers)
    with emulator_server() as (endpoint, server_pid):
        seeded = seed(endpoint, args.objects, args.workers)
        print(f"seeded {args.objects:,} archived objects with tags in {seeded:.1f} s")
        server_before, load_before = cpu_seconds(server_pid), os.getloadavg()[0]
        wall, command_cpu, listed = timed_command(endpoint)
        server_after, load_after = cpu_seconds(server_pid), os.getloadavg()[0]
        objects, requests, listing = counted_listing(endpoint)
    if not listed == objects == args.objects:
        raise RuntimeError(f"listed {listed} (command) and {objects} (counted) of {args.objects} objects")
    print(f"glacier-ami-restore list --output json: {listed:,} AMIs in {wall:.1f} s wall (subprocess, from process start)")
    server = f"{server_after - server_before:.1f} s" if server_after is not None and server_before is not None else "unknown"
    print(f"  CPU meanwhile: the command {command_cpu:.1f} s, the server {server}; load average {load_before:.1f} -> {load_after:.1f}")
    print(
        f"requests: {requests:,} for {objects:,} objects = {requests / objects:.3f} per object "
        f"({-(-objects // 1000)} ListObjectsV2 pages + one GetObjectTagging each); counted listing {listing:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
