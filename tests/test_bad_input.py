"""Hostile and odd input (tests/corpus, made by tests/corpus/make_corpus.py) and malformed
requests: each gets a clear 4xx from the api or ends as a failed job with a code and a message,
and the api and thumbnailer stay up and keep serving."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

import core
from tests import images, processes
from tests.embedded import embedded_environ
from tests.environment import ALICE
from tests.environment import alice_http as http
from tests.jobs import submit_directly
from tests.waiting import poll_until_finished
from thumbnailer.worker import Worker

CORPUS = Path(__file__).resolve().parent / "corpus"

# file -> (the api's answer, the job's final status and code when accepted)
EXPECTED = {
    "empty.jpg": (400, None),
    "text.txt": (415, None),
    "page.html": (415, None),
    "drawing.svg": (415, None),
    "document.pdf": (415, None),
    "text-named.jpg": (415, None),
    "html-named.png": (415, None),
    "random-bytes.bin": (415, None),
    "bad-crc.png": (415, None),
    "zero-width.jpg": (415, None),
    "truncated.jpg": (400, None),
    "truncated-header.png": (400, None),
    "bomb.png": (413, None),
    "huge-declared-size.jpg": (413, None),
    "bad-deflate.png": (202, ("failed", 422)),
    "bogus-exif.jpg": (202, ("complete", 200)),
    "bogus-icc.jpg": (202, ("complete", 200)),
    "bogus-icc.png": (202, ("complete", 200)),
    "many-frames.gif": (202, ("complete", 200)),
    "many-pages.tiff": (202, ("complete", 200)),
    "cmyk.jpg": (202, ("complete", 200)),
    "cmyk.tiff": (202, ("complete", 200)),
    "grey-16bit.png": (202, ("complete", 200)),
    "grey-16bit.tiff": (202, ("complete", 200)),
    "rgb-16bit.png": (202, ("complete", 200)),
    "jpeg-named.png": (202, ("complete", 200)),
}


def test_every_corpus_file_has_an_expectation():
    on_disk = {path.name for path in CORPUS.iterdir() if path.suffix != ".py"}
    assert on_disk == set(EXPECTED)
    assert sum(path.stat().st_size for path in CORPUS.iterdir()) < 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """gunicorn api + one thumbnailer on embedded backends of their own."""
    logs = tmp_path_factory.mktemp("bad-input-logs")
    port = processes.free_port()
    env = embedded_environ(tmp_path_factory.mktemp("bad-input-data"))
    api = processes.start_api(env, port, logs / "api.log")
    thumbnailer = processes.start_thumbnailer(env, logs / "thumbnailer.log")
    try:
        yield {"url": f"http://127.0.0.1:{port}", "port": port, "api": api, "thumbnailer": thumbnailer,
               "max_bytes": int(env["MAX_UPLOAD_BYTES"])}
    finally:
        processes.stop(thumbnailer, api)


def assert_still_serving(service) -> None:
    assert service["api"].poll() is None and service["thumbnailer"].poll() is None
    accepted = http.post(f"{service['url']}/jobs", files={"image": ("ok.jpg", images.jpeg())}, timeout=30)
    assert accepted.status_code == 202
    assert poll_until_finished(accepted.headers["Location"])["status"] == "complete"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_over_http(service, name):
    api_status, final = EXPECTED[name]
    response = http.post(f"{service['url']}/jobs", files={"image": (name, (CORPUS / name).read_bytes())},
                             timeout=30)
    assert response.status_code == api_status, response.text
    body = response.json()
    if final is None:
        assert body["error"] and body["message"]
        return
    job = poll_until_finished(response.headers["Location"])
    assert (job["status"], job["code"]) == final, job
    assert job["message"]
    if job["status"] == "complete":
        thumbnail = http.get(job["location"], timeout=10)
        decoded = images.decode(thumbnail.content)
        assert max(decoded.size) <= 100 and decoded.format in ("JPEG", "PNG")


def test_the_thumbnailer_fails_every_refused_file_cleanly_too(backends, settings):
    """Defence in depth: input that reached storage some other way still ends in a clear state."""
    jobs = {name: submit_directly(backends, (CORPUS / name).read_bytes(), "application/octet-stream")
            for name in sorted(EXPECTED)}
    Worker(backends, settings).work(burst=True)
    for name, job in jobs.items():
        done = backends.jobs.load(job.id)
        if done.status is core.JobStatus.FAILED:
            assert 400 <= done.code < 500 and done.message, (name, done)
        else:
            assert done.status is core.JobStatus.COMPLETE, (name, done)
            assert EXPECTED[name][1] == ("complete", 200), name


def test_multipart_without_a_file_is_refused(service):
    response = http.post(f"{service['url']}/jobs", files={"picture": ("x.jpg", images.jpeg())}, timeout=30)
    assert response.status_code == 400 and "'image'" in response.json()["message"]
    as_text = http.post(f"{service['url']}/jobs", data={"image": "not a file"}, timeout=30)
    assert as_text.status_code in (400, 415) and as_text.json()["message"]


def test_multipart_with_two_files_is_refused(service):
    files = [("image", ("a.jpg", images.jpeg())), ("image", ("b.jpg", images.jpeg()))]
    response = http.post(f"{service['url']}/jobs", files=files, timeout=30)
    assert response.status_code == 400 and "exactly one" in response.json()["message"]
    assert_still_serving(service)


AUTHORIZATION = f"Authorization: {ALICE['Authorization']}\r\n".encode()


def send_slowly(port: int, head: bytes, chunks, pause: float = 0.01) -> bytes:
    """Send a request body in small pieces; stop once the server answers or hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        for chunk in chunks:
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            if answer:
                break
            try:
                sock.sendall(chunk)
            except BlockingIOError:
                time.sleep(pause)  # the server is not reading: it has stopped accepting the body
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(pause)
        sock.setblocking(True)
        try:
            while not answer.count(b"\r\n\r\n") or len(answer) < 16:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        except ConnectionResetError:
            pass
        return answer


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_body_over_the_limit_sent_slowly_is_cut_off_with_413(service, framing):
    piece = b"\xff" * 64 * 1024
    count = service["max_bytes"] // len(piece) + 16
    if framing == "chunked":
        head = (b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n" + AUTHORIZATION +
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        chunks = (b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(count))
    else:
        head = (b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n" + AUTHORIZATION +
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (count * len(piece)))
        chunks = (piece for _ in range(count))

    answer = send_slowly(service["port"], head, chunks)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert_still_serving(service)
