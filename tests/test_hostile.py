"""Hostile clients (issue 11): each test is named after the numbered finding it keeps fixed.

 1. slow clients freeze the api            -> test_1_*
 2. option parts are read whole            -> test_2_*
 3. values are echoed whole                -> test_3_*
 4. a colour that crashes the render       -> test_4_*
 5. deep JSON                              -> test_5_*
 6. noisy neighbours (webhooks, renders, queue) -> test_6_*
 7. one webhook secret for every tenant    -> test_7_*
 8. the CLI follows redirects with the key -> test_8_*
 9. smaller leaks                          -> test_9_*
    (`serve` printing a new key on stderr, not among its JSON logs: tests/test_serve.py)

Most run on the embedded backends (a folder and SQLite under tmp_path); the webhook tests use
the real servers' fixtures, as tests/test_webhooks.py does; 1 and the gunicorn answers of 9
drive `thumbnails serve` itself.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import os
import socket
import threading
import time
import tracemalloc
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image

import core
import storage
from api import create_app
from cli.client import ApiClient, ApiError
from core.callbacks import check_callback_url, owner_signing_secret, signature
from core.errors import CallbackRefused, ConfigurationError
from core.keys import KeyRing, new_key, parse_records
from core.logs import JsonFormatter
from core.outputs import OutputSpec
from core.render import render
from processes import waiting
from tests import images
from tests.embedded import EmbeddedService, embedded_environ
from tests.environment import ALICE, ALICE_KEY, BOB
from thumbnailer import webhooks, worker
from thumbnailer.webhooks import NO_ANSWER, WebhookSender
from thumbnailer.worker import Worker

HOOK_SECRET = "hostile-test-master-secret"
WAIT_SECONDS = 30


# -- fixtures -------------------------------------------------------------------------------

@pytest.fixture
def local_settings(tmp_path) -> core.Settings:
    """The embedded backends in this test's own folder, with Alice's and Bob's keys."""
    environ = {key: value for key, value in os.environ.items() if key not in ("STORAGE_URL", "QUEUE_URL")}
    storage_url, queue_url = core.settings.embedded_urls(tmp_path)
    return core.Settings.from_env(environ, data_dir=str(tmp_path), storage_url=storage_url, queue_url=queue_url,
                                  max_upload_bytes=64 * 1024 * 1024)


@pytest.fixture
def local_backends(local_settings) -> storage.Backends:
    backends = storage.connect(local_settings)
    backends.ensure()
    return backends


def app_client(settings, backends, headers=ALICE):
    client = create_app(settings, backends).test_client()
    if headers:
        client.environ_base["HTTP_AUTHORIZATION"] = headers["Authorization"]
    return client


@pytest.fixture
def local_client(local_settings, local_backends):
    return app_client(local_settings, local_backends)


def post(client, data: bytes | None = None, query: str = "", **fields):
    form = {"image": (io.BytesIO(data or images.jpeg()), "photo.jpg"), **fields}
    return client.post(f"/jobs{query}", data=form, content_type="multipart/form-data")


class JsonLines(logging.Handler):
    """Every log line as the service writes it (JSON, with the context fields)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.formatter_ = JsonFormatter()
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.formatter_.format(record)))


@pytest.fixture
def log_lines():
    handler = JsonLines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(previous)


# The condition's first truthy value; TimeoutError after WAIT_SECONDS.
wait_until = functools.partial(waiting.wait_until, timeout=WAIT_SECONDS, interval=0.05)


# -- 1 and 9 (gunicorn): the real serving set-up ------------------------------------------

@pytest.fixture(scope="module")
def service(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hostile-serve")
    with EmbeddedService(data_dir, thumbnailers=1, environ=embedded_environ(data_dir)) as running:
        yield running


def test_1_slow_clients_do_not_freeze_the_api(service):
    """Many connections trickling headers, and authenticated uploads trickling bodies, are held
    while /healthz and another user's status request still answer."""
    port = service.port
    held = []
    try:
        for number in range(60):
            connection = socket.create_connection(("127.0.0.1", port))
            if number % 2:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")  # headers never end
            else:
                connection.sendall(f"POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE_KEY}\r\n"
                                   "Content-Type: image/jpeg\r\nContent-Length: 1048576\r\n\r\n".encode() + b"\xff")
            held.append(connection)
        for connection in held[::2]:
            connection.sendall(b"\xd8")  # still under way
        assert requests.get(f"{service.url}/healthz", timeout=10).json() == {"status": "ok"}
        missing = requests.get(f"{service.url}/jobs/{uuid.uuid4()}", headers=BOB, timeout=10)
        assert missing.status_code == 404
    finally:
        for connection in held:
            connection.close()


def raw_request(port: int, data: bytes) -> tuple[str, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status_line, headers, body


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % n for n in range(60)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"\x01\x02 nonsense\r\n\r\n", 400),
], ids=["request line too long", "too many headers", "header too large", "garbage"])
def test_9_gunicorns_own_errors_are_json(service, request_bytes, status):
    status_line, headers, body = raw_request(service.port, request_bytes)
    assert status_line.split()[1] == str(status)
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document["error"] and len(document["message"]) <= 201


# -- 2, 3, 5: options ---------------------------------------------------------------------

@pytest.mark.parametrize("field", ["output", "format", "size", "fit", "quality", "background", "priority",
                                   "callback_url"])
def test_2_an_oversized_option_file_part_is_refused_after_a_bounded_read(local_client, field):
    huge = io.BytesIO(b"[" + b"[]," * (20 * 1024 * 1024 // 3) + b"[]]")
    tracemalloc.start()
    try:
        response = post(local_client, **{field: (huge, "option.json")})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 400 and response.get_json()["field"] == field
    assert "longer than the limit" in response.get_json()["message"]
    assert peak < 8 * 1024 * 1024, f"{peak} bytes allocated for a 20 MB option part"


def test_2_an_oversized_form_field_is_refused(local_client):
    response = post(local_client, output="[" + "{}," * 100_000 + "{}]")
    assert response.status_code == 413 and response.is_json


def test_3_error_texts_quote_at_most_a_few_dozen_characters(local_client, log_lines):
    control = io.BytesIO(b"\x01" * 10 * 1024 * 1024)
    for response in (post(local_client, priority=(control, "p")),
                     post(local_client, query="?priority=" + "\x01" * 60, ),
                     post(local_client, output=json.dumps({"format": "x" * 60_000})[:16_000] + '"}'),
                     post(local_client, output=json.dumps({"fit": "y" * 15_000}))):
        assert response.status_code == 400
        assert len(response.data) < 1024, response.data[:200]
    assert all(len(json.dumps(line)) < 4096 for line in log_lines)


def test_3_strict_parsing(local_client):
    for output in ('{"quality": NaN}', '{"fit": "pad", "fit": "cover"}', '{"size": "２００,200"}',
                   '{"size": " 2_00,200"}', '{"size": ["200", "200"]}', '{"upscale": "yes"}'):
        response = post(local_client, output=output)
        assert response.status_code == 400, output
    assert post(local_client, quality="٩٠").status_code == 400  # Arabic-Indic digits
    assert post(local_client, output=b"\xff\xfe".decode("latin-1")).status_code == 400


@pytest.mark.parametrize("where", ["form", "query"])
def test_5_deeply_nested_output_is_a_400(local_client, where):
    nested = "[" * 1100 + "]" * 1100
    if where == "form":
        response = post(local_client, output=nested)
    else:
        response = local_client.post(f"/jobs?output={nested}", data=images.jpeg(), content_type="image/jpeg")
    assert response.status_code == 400 and "nested" in response.get_json()["message"]


# -- 4: a render that raises ----------------------------------------------------------------

@pytest.mark.parametrize("colour", ["#ffffff\n", "#fff\n", "#ffffff\r", "#ffffff ", "＃ffffff"])
def test_4_a_colour_with_a_trailing_newline_is_refused(local_client, colour):
    response = post(local_client, output=json.dumps({"fit": "pad", "background": colour}))
    assert response.status_code == 400 and response.get_json()["field"] == "output[0].background"


def test_4_any_exception_while_rendering_fails_the_job_at_once_and_is_logged_with_its_id(
        local_client, local_backends, local_settings, monkeypatch, log_lines):
    job_id = post(local_client).get_json()["id"]

    def broken(*args, **kwargs):
        int("\n", 16)  # what the old colour regex let through

    monkeypatch.setattr(worker, "render", broken)
    Worker(local_backends, local_settings).work(burst=True)
    job = local_backends.jobs.load(job_id)
    assert job.status is core.JobStatus.FAILED and job.code == 500
    assert "internal error" in job.message
    assert all(queue.receive(wait_seconds=0) == [] for queue in local_backends.queues)  # not retried
    failures = [line for line in log_lines if line["level"] in ("error", "warning")]
    assert failures and all(line.get("job_id") == job_id for line in failures)


# -- 6: noisy neighbours --------------------------------------------------------------------

def test_6_outputs_are_not_upscaled_and_identical_ones_are_rendered_once(
        local_client, local_backends, local_settings, monkeypatch):
    small = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(small, "PNG")
    asked = [{"format": "png", "size": "2048,2048", "fit": "cover"}] * 8
    job_id = post(local_client, small.getvalue(), output=json.dumps(asked)).get_json()["id"]
    calls = []

    def counting(data, specs, max_pixels, max_frames):
        calls.append(specs)
        return render(data, specs, max_pixels, max_frames)

    monkeypatch.setattr(worker, "render", counting)
    Worker(local_backends, local_settings).work(burst=True)
    assert [len(specs) for specs in calls] == [1]
    for index in range(8):
        output = images.decode(local_client.get(f"/jobs/{job_id}/outputs/{index}").data)
        assert output.size == (64, 64)
    [upscaled] = render(small.getvalue(), (OutputSpec(256, 128, "png", "cover", upscale=True),))
    assert (upscaled.width, upscaled.height) == (256, 128)


@pytest.mark.parametrize("store", ["folder", "s3"])
def test_6_an_owner_past_the_waiting_cap_gets_429_and_others_do_not(store, request):
    base = request.getfixturevalue("local_settings" if store == "folder" else "settings")
    backends = request.getfixturevalue("local_backends" if store == "folder" else "backends")
    # Owners of this test alone: the run's bucket is shared, and other tests leave jobs waiting.
    (carol_key, carol), (dave_key, dave) = (new_key(f"{name}-{uuid.uuid4().hex[:8]}") for name in ("carol", "dave"))
    settings = dataclasses.replace(base, max_waiting_jobs_per_owner=2, api_keys=f"{carol.line()},{dave.line()}")
    carol_client = app_client(settings, backends, {"Authorization": f"Bearer {carol_key}"})
    assert [post(carol_client).status_code for _ in range(2)] == [202, 202]
    refused = post(carol_client)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert post(app_client(settings, backends, {"Authorization": f"Bearer {dave_key}"})).status_code == 202
    Worker(backends, settings).work(burst=True)  # Carol's jobs start: they wait no more
    assert post(carol_client).status_code == 202


class HookReceiver:
    """A webhook receiver; `hold` makes it keep each connection open (reading nothing more)
    until released; `trickle` makes it answer one byte every trickle seconds, for ever."""

    def __init__(self, hold: bool = False, trickle: float | None = None):
        self.requests: list[tuple[dict, bytes]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                if hold:
                    receiver.release.wait(WAIT_SECONDS)
                if trickle:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    while not receiver.release.is_set():
                        try:
                            self.wfile.write(b"X")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(trickle)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_settings(local_settings):
    return dataclasses.replace(local_settings, webhook_secret=HOOK_SECRET, webhook_allow_networks=("127.0.0.1/32",),
                               webhook_backoff_seconds=0.1, webhook_timeout_seconds=1, webhook_attempts=1)


def finished_job(backends, owner: str, url: str) -> core.Job:
    job = core.Job(owner=owner, callback_url=url)
    job.start_processing()
    job.complete()
    backends.jobs.save(job)
    return job


def test_6_a_trickling_receiver_is_cut_off_at_the_attempt_deadline(hook_settings, local_backends):
    receiver = HookReceiver(trickle=0.3)  # each byte well inside a per-read timeout of 1 s
    sender = WebhookSender(local_backends.jobs, hook_settings)
    try:
        job = finished_job(local_backends, "alice", receiver.url)
        sender.send(job)
        deliveries = wait_until(lambda: local_backends.jobs.load(job.id).deliveries)
        assert deliveries and deliveries[0]["status"] is None and deliveries[0]["error"] == NO_ANSWER
    finally:
        receiver.close()
        sender.close()


def test_6_one_owners_slow_receivers_do_not_hold_back_another_owners_webhook(hook_settings, local_backends):
    slow, fast = HookReceiver(hold=True), HookReceiver()
    settings = dataclasses.replace(hook_settings, webhook_timeout_seconds=WAIT_SECONDS)
    sender = WebhookSender(local_backends.jobs, settings, threads=2)
    try:
        for _ in range(2):
            sender.send(finished_job(local_backends, "mallory", slow.url))
        sender.send(finished_job(local_backends, "bob", fast.url))
        assert wait_until(lambda: fast.requests), "bob's webhook waited behind mallory's"
        assert len(slow.requests) == 1  # mallory has one delivery in flight, never two
    finally:
        slow.close()
        fast.close()
        sender.close()


def test_6_shutdown_is_not_blocked_by_a_webhook(hook_settings, local_backends):
    receiver = HookReceiver(hold=True)
    sender = WebhookSender(local_backends.jobs, hook_settings)
    try:
        for owner in ("alice", "bob", "carol"):
            sender.send(finished_job(local_backends, owner, receiver.url))
        assert wait_until(lambda: receiver.requests)
        sender.close()  # waits at most one attempt's deadline
        assert not any(thread.is_alive() for thread in sender._threads)
        assert all(thread.daemon for thread in sender._threads)  # never holds the interpreter's exit
    finally:
        receiver.close()


# -- 7: a signing secret per owner ----------------------------------------------------------

def test_7_each_owner_has_its_own_signing_secret_and_the_event_is_signed(hook_settings, local_backends):
    receiver = HookReceiver()
    sender = WebhookSender(local_backends.jobs, hook_settings)
    try:
        job = finished_job(local_backends, "bob", receiver.url)
        sender.send(job)
        [(headers, body)] = wait_until(lambda: receiver.requests)
    finally:
        receiver.close()
        sender.close()
    fields = dict(part.split("=", 1) for part in headers["X-Thumbnails-Signature"].split(","))
    timestamp, event = int(fields["t"]), headers["X-Thumbnails-Event"]
    bob, alice = owner_signing_secret(HOOK_SECRET, "bob"), owner_signing_secret(HOOK_SECRET, "alice")
    assert fields["v2"] == signature(bob, timestamp, event, body)
    assert fields["v2"] != signature(alice, timestamp, event, body)  # Alice cannot forge Bob's
    assert fields["v2"] != signature(bob, timestamp, "job.failed", body)  # the event is covered
    assert "v1" not in fields and HOOK_SECRET not in json.dumps(headers)


# -- 8: the CLI and redirects ---------------------------------------------------------------

def test_8_the_cli_does_not_follow_a_redirect_with_the_key():
    seen = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{elsewhere.server_address[1]}"

    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirecting = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (elsewhere, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ApiClient(f"http://127.0.0.1:{redirecting.server_address[1]}", key=ALICE_KEY)
        with pytest.raises(ApiError) as refused:
            client.job(str(uuid.uuid4()))
        assert refused.value.status == 302 and "not followed" in str(refused.value)
        assert seen == []
    finally:
        for server in (elsewhere, redirecting):
            server.shutdown()
            server.server_close()


# -- 9: smaller leaks -----------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://100.64.0.1/hook", "http://[fec0::1]/hook", "http://[2002:7f00:1::1]/hook",
    "http://[2002:a9fe:a9fe::1]/latest", "http://[64:ff9b::7f00:1]/hook", "http://[::ffff:10.0.0.1]/",
    "http://8.8.8.8:22/hook", "http://user:pass@8.8.8.8/hook",
])
def test_9_callbacks_need_public_addresses_and_ordinary_ports(url):
    with pytest.raises(CallbackRefused):
        check_callback_url(url)


def test_9_the_callback_check_tells_nothing_about_how_names_resolve():
    messages = set()
    for url in ("http://localhost/hook", "http://no-such-host.invalid/hook", "http://10.1.2.3/hook"):
        with pytest.raises(CallbackRefused) as refused:
            check_callback_url(url)
        messages.add(str(refused.value))
    assert len(messages) == 1 and "127.0.0.1" not in messages.pop()


def test_9_delivery_records_hold_no_raw_connection_errors(hook_settings, local_backends):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"  # nothing listens there
    sender = WebhookSender(local_backends.jobs, hook_settings)
    try:
        job = finished_job(local_backends, "alice", url)
        sender.send(job)
        [delivery] = wait_until(lambda: local_backends.jobs.load(job.id).deliveries)
    finally:
        sender.close()
    assert delivery["error"] == NO_ANSWER and "Errno" not in json.dumps(delivery)
    assert webhooks.NO_ANSWER == NO_ANSWER


def test_9_repeated_wrong_keys_are_throttled(local_settings, local_backends):
    client = app_client(local_settings, local_backends, headers=None)
    wrong = {"Authorization": "Bearer thk_0000000000000000_guess"}
    statuses = [client.get(f"/jobs/{uuid.uuid4()}", headers=wrong).status_code for _ in range(30)]
    assert statuses[0] == 401 and statuses[-1] == 429
    throttled = client.get(f"/jobs/{uuid.uuid4()}", headers=ALICE)  # from the same address
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0


def test_9_every_answer_carries_security_headers(local_client):
    for path in ("/", "/healthz", f"/jobs/{uuid.uuid4()}"):
        headers = local_client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "no-referrer"


def test_9_outputs_carry_no_metadata_of_the_source():
    source = io.BytesIO()
    Image.new("RGB", (300, 200), "olive").save(source, "JPEG", comment=b"secret comment",
                                                icc_profile=b"\0" * 180 * 1024)
    specs = tuple(OutputSpec(100, 100, image_format) for image_format in ("auto", "jpeg", "png", "webp"))
    for output in render(source.getvalue(), specs):
        image = Image.open(io.BytesIO(output.data))
        assert not {"comment", "icc_profile", "exif", "xmp"} & set(image.info), (output.content_type, image.info)


def test_9_readyz_does_not_name_the_storage_path(local_client, local_backends, monkeypatch):
    def unwritable():
        raise core.TransientError("/very/secret/path/objects is not a writable folder")

    monkeypatch.setattr(local_backends.objects, "ping", unwritable)
    response = local_client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["storage"] == "unavailable"
    assert b"secret" not in response.data


def test_9_public_url_beats_the_host_header(local_settings, local_backends):
    settings = dataclasses.replace(local_settings, public_url="https://thumbs.example.com/base/")
    client = app_client(settings, local_backends)
    response = client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "a.jpg")},
                           content_type="multipart/form-data", headers={"Host": "evil.example"})
    assert response.headers["Location"].startswith("https://thumbs.example.com/base/jobs/")
    document = response.get_json()
    assert "evil" not in json.dumps(document)
    assert document["outputs"][0]["url"].startswith("https://thumbs.example.com/base/jobs/")
    with pytest.raises(ConfigurationError):
        core.Settings.from_env({"PUBLIC_URL": "javascript:alert(1)"})


def test_9_key_ids_are_64_bits_and_a_duplicate_record_is_refused(tmp_path):
    key, record = new_key("alice")
    assert len(record.key_id) == 16 and key.split("_")[1] == record.key_id
    with pytest.raises(ConfigurationError, match="twice"):
        parse_records(f"{record.line()},{record.key_id}:mallory:{'0' * 64}", "API_KEYS")
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"{record.key_id}:mallory:{'0' * 64}\n")
    with pytest.raises(ConfigurationError, match="twice"):
        KeyRing.from_settings(record.line(), str(keys_file))
    old_style = f"0123abcd:carol:{'1' * 64}"
    assert "0123abcd" in parse_records(old_style, "API_KEYS")  # 32-bit ids made before still work
