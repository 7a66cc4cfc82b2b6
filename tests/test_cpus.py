"""CPU counts from the cgroup v2 quota (cpu.max), as a container with --cpus or a CPU limit sees it."""

import os
from pathlib import Path

import pytest

import core
from core import cpus

CORES = len(os.sched_getaffinity(0))


@pytest.fixture
def cpu_max(tmp_path):
    """A fake /sys/fs/cgroup/cpu.max; the test writes what the kernel would."""
    return tmp_path / "cpu.max"


@pytest.mark.parametrize("content, quota", [
    ("200000 100000\n", 2.0),
    ("150000 100000\n", 1.5),
    ("50000 100000\n", 0.5),
    ("max 100000\n", None),
    ("", None),
    ("garbage\n", None),
    ("abc 100000\n", None),
    ("0 100000\n", None),
])
def test_quota_is_read_from_cpu_max(cpu_max, content, quota):
    cpu_max.write_text(content)
    assert cpus.cgroup_quota(cpu_max) == quota


def test_a_missing_file_means_no_quota(cpu_max):
    assert cpus.cgroup_quota(cpu_max) is None
    assert cpus.available_cpus(cpu_max) == CORES


def test_no_limit_gives_the_usable_cores(cpu_max):
    cpu_max.write_text("max 100000\n")
    assert cpus.available_cpus(cpu_max) == CORES


def test_a_quota_below_the_cores_wins(cpu_max, monkeypatch):
    monkeypatch.setattr(cpus, "_usable_cores", lambda: 64)
    cpu_max.write_text("200000 100000\n")
    assert cpus.available_cpus(cpu_max) == 2


def test_a_fractional_quota_rounds_down_but_never_to_zero(cpu_max, monkeypatch):
    monkeypatch.setattr(cpus, "_usable_cores", lambda: 64)
    cpu_max.write_text("150000 100000\n")
    assert cpus.available_cpus(cpu_max) == 1
    cpu_max.write_text("20000 100000\n")
    assert cpus.available_cpus(cpu_max) == 1


def test_a_quota_above_the_cores_gives_the_cores(cpu_max, monkeypatch):
    monkeypatch.setattr(cpus, "_usable_cores", lambda: 2)
    cpu_max.write_text("800000 100000\n")
    assert cpus.available_cpus(cpu_max) == 2


def test_thumbnailer_processes_follow_the_quota_unless_set(cpu_max, monkeypatch):
    monkeypatch.setattr(cpus, "_usable_cores", lambda: 64)
    monkeypatch.setattr(cpus, "CGROUP_CPU_MAX", cpu_max)
    cpu_max.write_text("300000 100000\n")
    assert core.Settings.from_env({}).processes == 3
    assert core.Settings.from_env({"THUMBNAILER_PROCESSES": "5"}).processes == 5


def test_gunicorn_workers_follow_the_quota_unless_set(cpu_max, monkeypatch):
    monkeypatch.setattr(cpus, "_usable_cores", lambda: 64)
    monkeypatch.setattr(cpus, "CGROUP_CPU_MAX", cpu_max)
    cpu_max.write_text("100000 100000\n")  # one CPU, fewer than this machine's cores
    config = _gunicorn_config(monkeypatch, {})
    assert config["workers"] == 1
    config = _gunicorn_config(monkeypatch, {"WEB_CONCURRENCY": "7"})
    assert config["workers"] == 7


def _gunicorn_config(monkeypatch, environ):
    """Execute api/gunicorn.conf.py as gunicorn does, with this environment."""
    import api

    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-unused")
    path = Path(api.__file__).with_name("gunicorn.conf.py")
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace
