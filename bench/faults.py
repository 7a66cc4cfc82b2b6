#!/usr/bin/env python3
"""Fault runs: MinIO and then ElasticMQ stopped and restarted while jobs are submitted and
rendered, on a gunicorn api and thumbnailers with servers of each run's own (tests/faultload.py,
the bigger version of tests/test_fault_counts.py). Prints one table row per run.

    .venv/bin/python bench/faults.py RUNS JOBS [--senders 4] [--thumbnailers 2] [--outage 4]

Exit status 1 if any run lost an accepted job, answered a 500 or had an api worker replaced.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import faultload  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=int)
    parser.add_argument("jobs", type=int)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--thumbnailers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=faultload.OUTAGE_SECONDS, help="seconds each server is down")
    parser.add_argument("--keep", type=Path, help="keep each run's logs under this folder")
    args = parser.parse_args()

    print(f"{args.jobs} jobs a run, {args.senders} senders, {args.thumbnailers} thumbnailers, "
          f"each server down {args.outage} s plus its restart\n")
    print("| run " + faultload.Tally.HEADER.replace("\n|", "\n|---|", 1))
    bad = 0
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="faults-") as scratch:
            workdir = (args.keep or Path(scratch)) / f"run-{number}"
            tally = faultload.run(workdir, jobs=args.jobs, senders=args.senders, thumbnailers=args.thumbnailers,
                                  outage_seconds=args.outage)
        print(f"| {number} {tally.row()}" + (f" other: {dict(tally.other)}" if tally.other else ""), flush=True)
        bad += bool(tally.lost or tally.server_errors or tally.api_workers_replaced)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
