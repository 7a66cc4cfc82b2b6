"""The `thumbnails` CLI end to end against `thumbnails serve` on the embedded backends."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

import core
import storage
from cli import commands
from cli.__main__ import main
from tests import images
from tests.embedded import EmbeddedService, embedded_environ
from tests.processes import free_port, wait_until_up


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with EmbeddedService(tmp_path_factory.mktemp("cli-data"), thumbnailers=1) as service:
        yield service


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(images.jpeg(400, 200))
    return path


def test_submit_writes_the_thumbnail_beside_the_image(service, photo, capsys):
    assert main(["submit", str(photo), "--url", service.url]) == commands.EXIT_OK
    thumbnail = images.decode((photo.parent / "photo.thumbnail.jpg").read_bytes())
    assert thumbnail.size == (100, 50)
    assert "photo.thumbnail.jpg" in capsys.readouterr().out


def test_submit_writes_where_output_says(service, tmp_path, capsys):
    source = tmp_path / "logo.png"
    source.write_bytes(images.png_with_alpha(300, 150))
    target = tmp_path / "out" / "small.png"
    target.parent.mkdir()
    assert main(["submit", str(source), "-o", str(target), "--url", service.url]) == commands.EXIT_OK
    assert images.decode(target.read_bytes()).mode == "RGBA"


def test_no_progress_indicator_when_stdout_is_not_a_terminal(service, photo, capsys):
    main(["submit", str(photo), "--url", service.url])
    out = capsys.readouterr().out
    assert "\r" not in out and out.count("\n") == 1


def test_status_prints_the_job_as_json(service, photo, capsys):
    main(["submit", str(photo), "--url", service.url])
    job_id = capsys.readouterr().out.rsplit("job ", 1)[1].strip(" )\n")
    assert main(["status", job_id, "--url", service.url]) == commands.EXIT_OK
    job = json.loads(capsys.readouterr().out)
    assert (job["id"], job["status"]) == (job_id, "complete")


def test_a_text_file_is_refused_with_the_apis_reason(service, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert main(["submit", str(notes), "--url", service.url]) == commands.EXIT_REFUSED
    error = capsys.readouterr().err
    assert "415" in error and "not a supported image" in error
    assert not (tmp_path / "notes.thumbnail.jpg").exists()


def test_a_missing_file_is_a_usage_error(service, tmp_path, capsys):
    assert main(["submit", str(tmp_path / "absent.jpg"), "--url", service.url]) == commands.EXIT_USAGE
    assert "cannot read" in capsys.readouterr().err


def test_an_unreachable_url_says_so(photo, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", str(photo), "--url", url]) == commands.EXIT_UNREACHABLE
    assert main(["status", "00000000-0000-4000-8000-000000000000", "--url", url]) == commands.EXIT_UNREACHABLE
    assert f"cannot reach the api at {url}" in capsys.readouterr().err


def test_an_unknown_job_id_is_not_found(service, capsys):
    assert main(["status", "00000000-0000-4000-8000-000000000000", "--url", service.url]) == commands.EXIT_REFUSED
    assert "no such job" in capsys.readouterr().err


def test_a_missing_or_wrong_key_is_refused_with_a_hint(service, photo, monkeypatch, capsys):
    monkeypatch.delenv("THUMBNAILS_KEY")
    assert main(["submit", str(photo), "--url", service.url]) == commands.EXIT_REFUSED
    assert "401" in (err := capsys.readouterr().err) and "THUMBNAILS_KEY" in err
    assert main(["status", "00000000-0000-4000-8000-000000000000", "--url", service.url,
                 "--key", "thk_00000000_wrong"]) == commands.EXIT_REFUSED
    assert "not valid" in capsys.readouterr().err


def test_keys_create_makes_a_key_the_service_accepts(tmp_path, photo, capsys):
    keys_file = tmp_path / "keys"
    assert main(["keys", "create", "carol", "--file", str(keys_file)]) == 0
    key = capsys.readouterr().out.strip()
    environ = dict(embedded_environ(tmp_path / "data"), API_KEYS_FILE=str(keys_file))
    environ.pop("API_KEYS")
    with EmbeddedService(tmp_path / "data", environ=environ) as service:
        assert main(["submit", str(photo), "--url", service.url, "--key", key]) == commands.EXIT_OK


def test_the_url_comes_from_the_environment_when_not_given(service, photo, monkeypatch):
    monkeypatch.setenv("THUMBNAILS_URL", service.url)
    assert main(["submit", str(photo)]) == commands.EXIT_OK


def test_the_console_script_runs_as_a_process(service, photo):
    result = subprocess.run([sys.executable, "-m", "cli", "status", "not-a-job", "--url", service.url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == commands.EXIT_REFUSED and "no such job" in result.stderr


def test_serve_refuses_a_half_configured_backend(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cli", "serve"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "STORAGE_URL": "s3://thumbs", "HOME": str(tmp_path)},
                            cwd=tmp_path)
    assert result.returncode == 2 and "QUEUE_URL" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_progress_indicator_when_stdout_is_a_terminal(service, photo):
    controller, terminal = os.openpty()
    process = subprocess.Popen([sys.executable, "-m", "cli", "submit", str(photo), "--url", service.url],
                               stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=60) == commands.EXIT_OK
    assert b"\r| job " in shown and b"pending" in shown
    assert shown.rstrip().endswith(b")") and b"photo.thumbnail.jpg" in shown


def test_worker_subcommand_drains_the_embedded_queue(tmp_path):
    environ = embedded_environ(tmp_path / "data")
    backends = storage.connect(core.Settings.from_env(environ))
    backends.ensure()
    job = core.Job()
    backends.jobs.save_input(job.id, images.jpeg(), "image/jpeg")
    backends.jobs.save(job)
    backends.queue.send(job.id)

    result = subprocess.run([sys.executable, "-m", "cli", "worker", "--burst"], env=environ, timeout=120,
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert backends.jobs.load(job.id).status is core.JobStatus.COMPLETE


def test_api_subcommand_serves_the_api_alone(tmp_path):
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "cli", "api", "--bind", f"127.0.0.1:{port}"],
                           env=embedded_environ(tmp_path / "data"))
    try:
        wait_until_up(f"http://127.0.0.1:{port}/readyz", api)
    finally:
        api.terminate()
        api.wait(timeout=60)


def test_giving_up_waiting_says_how_to_check_later(service, photo, capsys):
    assert main(["submit", str(photo), "--url", service.url, "--wait", "0"]) == commands.EXIT_TIMEOUT
    assert "thumbnails status " in capsys.readouterr().err


def test_something_else_at_the_url_is_a_clear_error(photo, capsys):
    class NotTheApi(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>a blog</html>")

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotTheApi) as server:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code = main(["submit", str(photo), "--url", url])
        server.shutdown()
    assert code == commands.EXIT_REFUSED
    assert "is it a thumbnails api?" in capsys.readouterr().err


def test_submit_with_outputs_and_priority(service, photo, capsys):
    outputs = '[{"format": "png", "size": "100,100"}, {"format": "webp", "size": "300,300", "fit": "cover"}]'
    assert main(["submit", str(photo), "--url", service.url, "--outputs", outputs, "--priority", "high"]) == 0
    printed = capsys.readouterr().out
    first = photo.with_name("photo.thumbnail.png")
    assert images.decode(first.read_bytes()).size == (100, 50)
    assert "also:" in printed and "/outputs/1?expires=" in printed and "&signature=" in printed


def test_submit_asks_for_the_signed_urls_lifetime(service, photo, capsys):
    assert main(["submit", str(photo), "--url", service.url, "--url-ttl", "900"]) == 0
    job_id = capsys.readouterr().out.split("job ")[1].rstrip(")\n")
    assert main(["status", job_id, "--url", service.url]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["url_ttl_seconds"] == 900 and "signature=" in job["outputs"][0]["signed_url"]


def test_a_bad_output_spec_is_refused_naming_the_field(service, photo, capsys):
    assert main(["submit", str(photo), "--url", service.url, "--outputs", '[{"size": "0,0"}]']) == \
        commands.EXIT_REFUSED
    assert "output[0].size" in capsys.readouterr().err


def test_submit_by_source_url_writes_the_thumbnail_here(tmp_path, monkeypatch, capsys):
    from tests.sources import SourceServer

    environ = dict(embedded_environ(tmp_path / "data"), SOURCE_ALLOW_NETWORKS="127.0.0.1/32")
    with SourceServer() as origin, EmbeddedService(tmp_path / "data", environ=environ) as service:
        monkeypatch.chdir(tmp_path)
        assert main(["submit", "--source-url", origin.url("/image.jpg"), "--url", service.url]) == commands.EXIT_OK
        printed = capsys.readouterr().out
        job_id = printed.rsplit("job ", 1)[1].strip(" )\n")
        assert images.decode((tmp_path / f"{job_id}.thumbnail.jpg").read_bytes()).size == (100, 50)
        assert main(["submit", "--source-url", origin.url("/missing"), "--url", service.url]) == \
            commands.EXIT_REFUSED
        assert "source_unreachable: the source URL answered 404" in capsys.readouterr().err


def test_submit_by_source_url_refused_by_the_address_policy(service, capsys):
    assert main(["submit", "--source-url", "http://127.0.0.1:9/a.jpg", "--url", service.url]) == \
        commands.EXIT_REFUSED
    assert "source_url: must name a host whose addresses are all public" in capsys.readouterr().err


def test_submit_needs_exactly_one_image_or_source(photo, capsys):
    for argv in (["submit"], ["submit", str(photo), "--source-url", "https://example.com/a.jpg"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == commands.EXIT_USAGE
    assert "exactly one of IMAGE, --source-url and --source" in capsys.readouterr().err
