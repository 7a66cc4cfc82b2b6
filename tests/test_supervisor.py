"""The one process supervisor (processes.supervisor), as `thumbnails serve` runs it on the
embedded backends: a killed thumbnailer is restarted and its job completes, a killed supervisor
leaves no child behind, a taken port is refused before any banner, the thumbnailers' metrics
are summed on one port, a crash loop stops everything; and its policy, back-off and metrics
endpoint on their own."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

import core
import storage
from core.backoff import backoff
from processes.metrics import MULTIPROC_VARIABLE, SharedMetrics
from processes.ports import PortInUse, free_port
from processes.supervisor import EXIT_DO_NOT_RESTART, Program, RestartPolicy, Supervisor
from processes.waiting import answers, wait_until
from tests import images
from tests.embedded import EmbeddedService, embedded_environ

SLOW_SIDE = 8000  # images.slow_png: a thumbnailer can be caught holding it (as in test_crash.py)
ATTEMPTS = 3
VISIBILITY_TIMEOUT_SECONDS = 2


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['THUMBNAILS_KEY']}"}


COMMANDS = {"thumbnailer": ["-m", "thumbnailer"], "api": ["-m", "cli", "api"]}


def children(service: EmbeddedService, name: str) -> list[psutil.Process]:
    """serve's children that run the api or a thumbnailer."""
    assert service.process is not None
    found = []
    for child in psutil.Process(service.process.pid).children():
        try:
            if child.cmdline()[1:1 + len(COMMANDS[name])] == COMMANDS[name]:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def port_is_free(port: int) -> bool:
    try:
        with socket.create_server(("127.0.0.1", port)):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def slow_png() -> bytes:
    return images.slow_png(SLOW_SIDE)


def test_serve_restarts_a_killed_thumbnailer_and_the_job_it_held_completes(tmp_path, slow_png):
    environ = dict(embedded_environ(tmp_path / "data"), VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT_SECONDS),
                   MAX_IMAGE_PIXELS=str(SLOW_SIDE * SLOW_SIDE))
    jobs = storage.connect(core.Settings.from_env(environ)).jobs
    with EmbeddedService(tmp_path / "data", thumbnailers=1, environ=environ, log=tmp_path / "serve.log") as service:
        for _ in range(ATTEMPTS):
            # Given the one thumbnailer frozen while it holds a slow job
            [victim] = wait_until(lambda: children(service, "thumbnailer"), 30, description="a thumbnailer")
            response = requests.post(f"{service.url}/jobs", files={"image": ("slow.png", slow_png, "image/png")},
                                     headers=headers(), timeout=30)
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            wait_until(lambda job_id=job_id: jobs.load(job_id).status is not core.JobStatus.PENDING, 60,
                       interval=0.005, description="the thumbnailer to take the job")
            victim.suspend()
            caught = jobs.load(job_id).status is core.JobStatus.PROCESSING
            # When it is killed outright, as the OOM killer would
            victim.kill()
            if caught:
                break
        assert caught, f"never caught the thumbnailer mid-job in {ATTEMPTS} attempts"

        # Then the service keeps answering, the thumbnailer is started again ...
        assert answers(f"{service.url}/readyz") and service.process.poll() is None
        wait_until(lambda: [child for child in children(service, "thumbnailer") if child.pid != victim.pid], 30,
                   description="a new thumbnailer")
        # ... and the job it held completes once its visibility timeout has passed
        done = wait_until(lambda: (job := jobs.load(job_id)).status.is_terminal and job, 60,
                          description="the job to finish")
        assert (done.status, done.code) == (core.JobStatus.COMPLETE, 200)
    assert "thumbnailer-1 was killed by SIGKILL; restarting it" in (tmp_path / "serve.log").read_text()


def test_no_child_outlives_a_killed_serve(tmp_path):
    service = EmbeddedService(tmp_path / "data", thumbnailers=2).start()
    try:
        descendants = psutil.Process(service.process.pid).children(recursive=True)
        assert len(children(service, "thumbnailer")) == 2 and len(children(service, "api")) == 1

        service.process.kill()  # no handler runs: only the kernel can tell the children
        service.process.wait()

        gone, alive = psutil.wait_procs(descendants, timeout=60)
        assert alive == []
        assert port_is_free(service.port), "an orphan still holds the port"
    finally:
        service.stop()


def test_serve_stops_its_children_gracefully_on_sighup(tmp_path):
    service = EmbeddedService(tmp_path / "data", thumbnailers=1, log=tmp_path / "serve.log").start()
    descendants = psutil.Process(service.process.pid).children(recursive=True)

    service.process.send_signal(signal.SIGHUP)  # what a closed terminal sends

    assert service.process.wait(timeout=60) == 0
    assert psutil.wait_procs(descendants, timeout=5)[1] == []
    assert "stopping (thumbnailers finish the job in hand)" in (tmp_path / "serve.log").read_text()


def test_serve_refuses_a_port_in_use_before_any_banner(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "cli", "serve", "--port", str(port)],
                                env=embedded_environ(tmp_path / "data"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "in use" in result.stderr
    assert "serving on" not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists(), "nothing may start before the port is had"


def metric(text: str, name: str) -> float:
    """Sum of a metric's samples in Prometheus text format (0 when absent)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in " {")


def completed(url: str) -> float:
    return metric(requests.get(url, timeout=5).text, 'thumbnails_jobs_finished_total{code="200",outcome="complete"}')


def submit_and_finish(service: EmbeddedService, count: int) -> None:
    locations = []
    for number in range(count):
        response = requests.post(f"{service.url}/jobs", files={"image": (f"{number}.jpg", images.jpeg(), "image/jpeg")},
                                 headers=headers(), timeout=30)
        assert response.status_code == 202, response.text
        locations.append(response.headers["Location"])
    for location in locations:
        wait_until(lambda location=location: requests.get(location, headers=headers(), timeout=5).json()["status"]
                   == "complete", 60, description="a job to complete")


def test_serve_sums_its_thumbnailers_metrics_on_one_port(tmp_path):
    port = free_port()
    environ = dict(embedded_environ(tmp_path / "data"), THUMBNAILER_METRICS_PORT=str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    with EmbeddedService(tmp_path / "data", thumbnailers=2, environ=environ) as service:
        first = children(service, "thumbnailer")
        assert len(first) == 2
        assert not [c for child in first for c in child.net_connections("tcp") if c.status == psutil.CONN_LISTEN], \
            "a thumbnailer listens on a port of its own"

        submit_and_finish(service, 3)
        wait_until(lambda: completed(url) == 3, 10, description="three completions counted")

        # Both children killed outright and restarted: what they counted stays in the sum ...
        for child in first:
            child.kill()
        wait_until(lambda: len([c for c in children(service, "thumbnailer") if c not in first]) == 2, 30,
                   description="two new thumbnailers")
        assert completed(url) == 3
        # ... and what the new ones count is added to it, on the same port.
        submit_and_finish(service, 1)
        wait_until(lambda: completed(url) == 4, 10, description="the fourth completion counted")
    assert port_is_free(port), "the metrics port outlived serve"


def test_serve_refuses_a_taken_metrics_port_before_any_banner(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        environ = dict(embedded_environ(tmp_path / "data"), THUMBNAILER_METRICS_PORT=str(taken.getsockname()[1]))
        result = subprocess.run([sys.executable, "-m", "cli", "serve", "--port", str(free_port())],
                                env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "thumbnailers' metrics" in result.stderr and "THUMBNAILER_METRICS_PORT" in result.stderr
    assert "serving on" not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists(), "nothing may start before the ports are had"


def test_serve_stops_with_a_message_when_a_thumbnailer_crash_loops(tmp_path):
    port = free_port()
    # A thumbnailer that dies as it starts (a sitecustomize on its path), while the api runs.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import sys\nif sys.orig_argv[1:3] == ['-m', 'thumbnailer']:\n    raise SystemExit(1)\n")
    environ = dict(embedded_environ(tmp_path / "data"), PYTHONPATH=str(tmp_path / "site"))
    result = subprocess.run([sys.executable, "-m", "cli", "serve", "--port", str(port), "-w", "1"],
                            env=environ, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    assert result.stderr.count("thumbnailer-1 exited with 1; restarting it in") == 4
    assert "thumbnailer-1 exited with 1: 5 deaths in a row" in result.stderr
    assert "(a crash loop); stopping everything" in result.stderr
    assert port_is_free(port)


def test_serve_stops_everything_and_fails_when_the_api_dies(tmp_path):
    service = EmbeddedService(tmp_path / "data", thumbnailers=1, log=tmp_path / "serve.log").start()
    try:
        [thumbnailer] = children(service, "thumbnailer")
        [api] = children(service, "api")

        api.kill()

        assert service.process.wait(timeout=60) == 1
        assert psutil.wait_procs([thumbnailer], timeout=5)[1] == []
    finally:
        service.stop()
    assert "api was killed by SIGKILL; stopping everything" in (tmp_path / "serve.log").read_text()


# The policy on its own, with stand-in programs.

FAST = RestartPolicy(base_seconds=0.01, cap_seconds=0.05, deaths_in_a_row=3, stable_seconds=30)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_that_keeps_dying_is_restarted_until_the_crash_loop_limit():
    said = []
    supervisor = Supervisor([Program("flaky", python("raise SystemExit(4)"), os.environ)], FAST, say=said.append)

    assert supervisor.run() == 1
    assert len(said) == 3 and all("flaky exited with 4; restarting it in" in line for line in said[:2])
    assert said[2] == "flaky exited with 4: 3 deaths in a row, each within 30 s of its start (a crash loop); " \
                      "stopping everything"


def test_a_child_that_ran_long_enough_starts_its_count_again():
    said = []
    stable_at_once = RestartPolicy(base_seconds=0.01, cap_seconds=0.05, deaths_in_a_row=2, stable_seconds=0)
    supervisor = Supervisor([Program("worker", python("raise SystemExit(4)"), os.environ)], stable_at_once,
                            say=said.append)
    with supervisor:
        wait_until(lambda: len(said) >= 4 or supervisor.poll(), 30, interval=0.01, description="four restarts")
    assert supervisor.failure is None and len(said) >= 4


def test_a_child_that_cannot_work_as_configured_stops_everything_at_once():
    """Exit status 3 (a missing permission, say): a restart would only repeat the refusal."""
    said = []
    supervisor = Supervisor([Program("worker", python(f"raise SystemExit({EXIT_DO_NOT_RESTART})"), os.environ),
                             Program("other", python("import time; time.sleep(60)"), os.environ)], FAST,
                            stop_grace=5, say=said.append)
    assert supervisor.run() == EXIT_DO_NOT_RESTART
    assert said == ["worker exited with 3: it cannot work as configured (its log says why); stopping everything"]


def test_the_death_of_an_essential_child_stops_the_others():
    said = []
    sleeper = Program("thumbnailer", python("import time; time.sleep(60)"), os.environ)
    api = Program("api", python("raise SystemExit(4)"), os.environ, essential=True)
    supervisor = Supervisor([sleeper, api], FAST, stop_grace=30, say=said.append)

    assert supervisor.run() == 1
    assert said == ["api exited with 4; stopping everything"]
    assert all(process.returncode is not None for process in supervisor.processes())


def test_a_stop_signal_stops_the_children_and_is_not_a_failure():
    supervisor = Supervisor([Program("sleeper", python("import time; time.sleep(60)"), os.environ)], FAST,
                            say=lambda message: None)
    with supervisor:
        [sleeper] = supervisor.processes()
        os.kill(os.getpid(), signal.SIGHUP)
        code = supervisor.watch()
    assert code == 0 and supervisor.stop_signal == signal.SIGHUP
    assert sleeper.returncode == -signal.SIGTERM


@pytest.mark.parametrize("attempt", [1, 2, 4, 10, 5000])
def test_backoff_stays_within_its_growing_window_up_to_the_cap(attempt):
    window = min(30.0, 0.5 * 2 ** min(attempt - 1, 64))
    waits = [backoff(attempt, 0.5, 30.0, random.Random(seed)) for seed in range(200)]
    assert all(0 <= wait <= window for wait in waits)
    assert max(waits) > window / 2, "the whole window is used"


def test_backoff_spreads_processes_that_fail_together():
    waits = {round(backoff(2, 1.0, 30.0), 6) for _ in range(20)}
    assert len(waits) > 10, "no lockstep: the waits differ"


# The one metrics endpoint on its own, with stand-in children.

COUNTING_CHILD = "from prometheus_client import Counter; Counter('made', 'x').inc(3); raise SystemExit(4)"


def test_one_endpoint_sums_the_metrics_of_every_child_dead_or_alive():
    port = free_port()
    died = []
    with SharedMetrics(port, "127.0.0.1") as metrics:
        program = Program("counter", python(COUNTING_CHILD), programs_environ(metrics))
        assert Supervisor([program], FAST, say=lambda line: None, on_death=died.append).run() == 1
        for pid in died:
            metrics.process_died(pid)
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        folder = Path(metrics.folder)
        assert {path.name for path in folder.iterdir()} == {f"counter_{pid}.db" for pid in died}
    assert len(set(died)) == FAST.deaths_in_a_row  # each death told, with its own process id
    assert metric(text, "made_total") == 3 * FAST.deaths_in_a_row
    assert not folder.exists() and port_is_free(port)


def programs_environ(metrics: SharedMetrics) -> dict[str, str]:
    """What a supervised child gets: its metrics go to the shared folder."""
    return metrics.environ({key: value for key, value in os.environ.items() if key != MULTIPROC_VARIABLE})


def test_a_taken_metrics_port_is_refused_and_leaves_no_folder():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        metrics = SharedMetrics(taken.getsockname()[1], "127.0.0.1")
        with pytest.raises(PortInUse, match="metrics"):
            metrics.__enter__()
    assert metrics.folder and not Path(metrics.folder).exists()
