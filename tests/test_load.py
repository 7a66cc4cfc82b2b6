"""The load driver, at CI size: every accepted job completes with a thumbnail that decodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.environment import ROOT

CI_JOBS = 50


def test_load_driver_small_run(servers):
    # Given the service under 8 concurrent clients
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--jobs", str(CI_JOBS),
                          "--concurrency", "8", "--thumbnailers", "2"],
                         env=os.environ.copy(), capture_output=True, text=True, timeout=600)

    # Then nothing is lost and nothing is broken
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["accepted"] == report["completed"] == CI_JOBS
    assert (report["failed"], report["never_finished"], report["invalid_thumbnails"]) == (0, 0, 0)
    assert report["submit_errors"] == {}
    assert report["processes_alive"], "a component died under load"


def test_load_driver_refuses_endpoints_off_this_machine():
    env = dict(os.environ, AWS_ENDPOINT_URL_S3="http://s3.example.com")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--jobs", "1"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "127.0.0.1" in run.stderr
