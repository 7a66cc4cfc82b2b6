"""How many CPUs this process may use: the cgroup's CPU quota, else the affinity mask.

A container started with `--cpus=2` (or a Kubernetes CPU limit of 2) on a 64-core host sees all
64 cores in its affinity mask; only the cgroup v2 file `cpu.max` ("QUOTA PERIOD", or "max PERIOD"
for no limit) tells it that it may use two. Gunicorn's workers and the thumbnailer's processes
are both counted here, so that neither starts one process per host core.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path | None = None) -> int:
    """The CPU quota rounded down (at least 1), never more than the cores this process may run on.

    Rounded down as Go's automaxprocs does: with a quota of 1.5, a second busy process would
    only be throttled. No cgroup v2 file, or one without a limit: the affinity mask alone.
    """
    cores = _usable_cores()
    quota = cgroup_quota(CGROUP_CPU_MAX if cpu_max is None else cpu_max)
    if quota is None:
        return cores
    return max(1, min(cores, int(quota)))


def cgroup_quota(cpu_max: Path = CGROUP_CPU_MAX) -> float | None:
    """The quota in CPUs (1.5 for "150000 100000"), or None when there is no limit or no readable file."""
    try:
        fields = cpu_max.read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
