#!/usr/bin/env python3
"""CPU cost of single S3 requests against the running MinIO, on both sides: what a job's
storage traffic costs the machine, apart from rendering.

    .venv/bin/python bench/s3_cost.py [--corpus PATH]

MinIO's CPU is read from its process (psutil); the client's is this process's own.
MinIO is shared, so anything else using it at the same time is counted too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from stack import cpu_seconds, shared_servers, unique_name  # noqa: E402

from storage.aws import make_client  # noqa: E402
from storage.objects.s3 import S3ObjectStore  # noqa: E402

BIG = "jpeg_12mp_baseline.jpg"
SMALL = b'{"id": "0b6c", "status": "pending"}' * 8  # about a job document


def measure(label: str, minio, operation, count: int) -> None:
    server_before, client_before, wall_before = cpu_seconds(minio), time.process_time(), time.perf_counter()
    for number in range(count):
        operation(number)
    server = (cpu_seconds(minio) - server_before) * 1000 / count
    client = (time.process_time() - client_before) * 1000 / count
    wall = (time.perf_counter() - wall_before) * 1000 / count
    print(f"| {label} | {server:.2f} | {client:.2f} | {wall:.2f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    corpus.add_argument(parser)
    args = parser.parse_args(argv)
    big = (corpus.resolve(args.corpus, [BIG]) / BIG).read_bytes()
    objects = S3ObjectStore(make_client("s3", "path"), unique_name("s3cost"))
    objects.ensure()
    minio = shared_servers()["minio"]
    try:
        print("| request | MinIO CPU ms | client (boto3) CPU ms | wall ms |")
        print("|---|---:|---:|---:|")
        measure("PUT job document", minio, lambda n: objects.put(f"s/{n}", SMALL, "application/json"), 200)
        measure("GET job document", minio, lambda n: objects.get(f"s/{n}"), 200)
        measure(f"PUT {len(big) / 1e6:.1f} MB input", minio, lambda n: objects.put(f"b/{n}", big, "image/jpeg"), 40)
        measure(f"GET {len(big) / 1e6:.1f} MB input", minio, lambda n: objects.get(f"b/{n}"), 40)
    finally:
        objects.delete_bucket()
    return 0


if __name__ == "__main__":
    sys.exit(main())
