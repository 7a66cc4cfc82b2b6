"""api/openapi.yaml against the app: every route documented and every documented path a route,
valid OpenAPI 3.1, every documented status produced by a request with an answer that matches its
schema, and schemathesis fuzzing each operation on the embedded backends."""

from __future__ import annotations

import io
import os
import re
import uuid
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

import core
from api import openapi
from core.errors import HistoryUnavailable
from core.job import thumbnail_path
from tests import images
from tests.environment import ALICE, BOB


@pytest.fixture
def settings(embedded_settings, tmp_path, monkeypatch) -> core.Settings:
    """The embedded backends with job records in SQLite, as `thumbnails serve` has them: history answers."""
    monkeypatch.setenv("JOBS_URL", f"sqlite://{(tmp_path / 'jobs.db').as_posix()}")
    return core.Settings.from_env(os.environ)


METHODS = ("get", "head", "post", "put", "patch", "delete")
SERVED = openapi.load()


def documented(document: dict) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation."""
    return {(method.upper(), path) for path, item in document["paths"].items() for method in METHODS if method in item}


def routes(app) -> set[tuple[str, str]]:
    """(METHOD, path) of every route, in OpenAPI's path syntax: /jobs/<int:index> is /jobs/{index}."""
    found = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found |= {(method, path) for method in rule.methods - {"OPTIONS"}}
    return found


def statuses(document: dict) -> list[tuple[str, str, str]]:
    return [(method.upper(), path, status) for path, item in document["paths"].items()
            for method in METHODS if method in item for status in item[method]["responses"]]


# -- routes ---------------------------------------------------------------------------------------


def test_every_route_is_documented(app):
    """HEAD, which Flask answers for every GET, is documented only where it matters (downloads)."""
    missing = {(method, path) for method, path in routes(app) if method != "HEAD"} - documented(SERVED)
    assert not missing, f"routes missing from api/openapi.yaml : {sorted(missing)}"


def test_every_documented_operation_is_a_route(app):
    extra = documented(SERVED) - routes(app)
    assert not extra, f"documented in api/openapi.yaml but not routes of the app: {sorted(extra)}"


# -- the document -----------------------------------------------------------------------------------


def test_the_description_is_valid_openapi_3_1():
    OpenAPIV31SpecValidator(SERVED).validate()


def test_served_as_json(client):
    response = client.get("/openapi.json", headers={})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == SERVED


def test_the_static_files_are_the_documented_ones():
    filename = SERVED["paths"]["/static/{filename}"]["get"]["parameters"][0]
    assert set(filename["schema"]["enum"]) == {path.name for path in openapi.SPEC_FILE.with_name("static").iterdir()}


# -- every documented status, produced ----------------------------------------------------------


def _job(backends, status=core.JobStatus.PENDING, finish=None, output: bytes | None = None) -> str:
    job = core.Job(owner="alice", status=status, finish=finish)
    if status is core.JobStatus.COMPLETE:
        job.location = thumbnail_path(job.id)
        job.code = 200
    backends.jobs.save(job)
    if output is not None:
        backends.jobs.save_output(job.id, 0, output, "image/jpeg")
    return job.id


def _complete(backends) -> str:
    return _job(backends, core.JobStatus.COMPLETE, datetime.now(UTC), images.jpeg(100, 50))


def _expired(backends) -> str:
    return _job(backends, core.JobStatus.COMPLETE, datetime(2000, 1, 1, tzinfo=UTC))


def _rate_limited(app, monkeypatch) -> None:
    monkeypatch.setattr(app.extensions["thumbnails.rate_limiter"], "retry_after", lambda owner, take=True: 7)


def _unavailable(*args, **kwargs):
    raise core.TransientError("down")


def _upload(data: bytes, **fields) -> dict:
    return {"data": {"image": (io.BytesIO(data), "photo.jpg"), **fields}, "content_type": "multipart/form-data"}


NO_KEY = {"headers": {"Authorization": ""}}
WRONG_KEY = {"headers": {"Authorization": "Bearer thk_not-a-key"}}


# (METHOD, path, status) -> f(app, backends, monkeypatch) -> (url, client.open keyword arguments).
# A HEAD is answered as its GET: the same case serves both.
def _output_cases(url: str) -> dict:
    return {
        "200": lambda app, backends, mp: (url.format(_complete(backends)), {}),
        "401": lambda app, backends, mp: (url.format(uuid.uuid4()), WRONG_KEY),
        "404": lambda app, backends, mp: (f"/jobs/{_complete(backends)}/outputs/5", {}),  # 1 output
        "409": lambda app, backends, mp: (url.format(_job(backends)), {}),
        "410": lambda app, backends, mp: (url.format(_expired(backends)), {}),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), (url.format(uuid.uuid4()), {}))[1],
        "503": lambda app, backends, mp: (mp.setattr(backends.jobs, "load", _unavailable),
                                          (url.format(uuid.uuid4()), {}))[1],
        "304": lambda app, backends, mp: _unchanged(app, url.format(_complete(backends))),
        "403": lambda app, backends, mp: (f"{url.format(uuid.uuid4())}?expires=4102444800&signature=tampered", NO_KEY),
    }


def _unchanged(app, url: str) -> tuple[str, dict]:
    """The same request again with the ETag the first answer gave."""
    etag = app.test_client().get(url, headers=ALICE).headers["ETag"]
    return url, {"headers": {"If-None-Match": etag}}


CASES = {
    ("POST", "/jobs"): {
        "202": lambda app, backends, mp: ("/jobs?priority=high", _upload(images.jpeg(), output='{"format": "png"}')),
        "400": lambda app, backends, mp: ("/jobs", _upload(images.jpeg(), size="0,0")),
        "401": lambda app, backends, mp: ("/jobs", {**_upload(images.jpeg()), **NO_KEY}),
        "413": lambda app, backends, mp: ("/jobs", _upload(images.png_bomb())),
        "415": lambda app, backends, mp: ("/jobs", _upload(b"just words, not an image")),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), ("/jobs", _upload(images.jpeg())))[1],
        "503": lambda app, backends, mp: (mp.setattr(backends.queue, "send", _unavailable),
                                          ("/jobs", _upload(images.jpeg())))[1],
    },
    ("GET", "/jobs"): {
        "200": lambda app, backends, mp: (_complete(backends), _expired(backends), ("/jobs?limit=5", {}))[2],
        "400": lambda app, backends, mp: ("/jobs?limit=9999", {}),
        "401": lambda app, backends, mp: ("/jobs", NO_KEY),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), ("/jobs", {}))[1],
        "501": lambda app, backends, mp: (mp.setattr(backends.jobs, "page", _no_history), ("/jobs", {}))[1],
        "503": lambda app, backends, mp: (mp.setattr(backends.jobs, "page", _unavailable), ("/jobs", {}))[1],
    },
    ("GET", "/jobs/summary"): {
        "200": lambda app, backends, mp: (_job(backends), ("/jobs/summary", {}))[1],
        "401": lambda app, backends, mp: ("/jobs/summary", WRONG_KEY),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), ("/jobs/summary", {}))[1],
        "501": lambda app, backends, mp: (mp.setattr(backends.jobs, "summary", _no_history), ("/jobs/summary", {}))[1],
        "503": lambda app, backends, mp: (mp.setattr(backends.jobs, "summary", _unavailable), ("/jobs/summary", {}))[1],
    },
    ("POST", "/jobs/batch"): {
        "202": lambda app, backends, mp: ("/jobs/batch", {"json": {"jobs": [
            {"source_url": "https://93.184.215.14/cat.jpg", "outputs": [{"format": "webp"}]}, {"source_url": "ftp://x/y.jpg"}]}}),
        "400": lambda app, backends, mp: ("/jobs/batch", {"json": {"jobs": "none"}}),
        "401": lambda app, backends, mp: ("/jobs/batch", {"json": {"jobs": []}, **NO_KEY}),
        "413": lambda app, backends, mp: ("/jobs/batch", {"data": b" " * (app.config["MAX_CONTENT_LENGTH"] + 1),
                                                          "content_type": "application/json"}),
        "415": lambda app, backends, mp: ("/jobs/batch", {"data": "jobs", "content_type": "text/plain"}),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), ("/jobs/batch", {"json": {"jobs": []}}))[1],
    },
    ("GET", "/jobs/{job_id}"): {
        "200": lambda app, backends, mp: (f"/jobs/{_complete(backends)}", {}),
        "401": lambda app, backends, mp: (f"/jobs/{uuid.uuid4()}", NO_KEY),
        "404": lambda app, backends, mp: (f"/jobs/{_job(backends)}", {"headers": BOB}),  # not Bob's
        "410": lambda app, backends, mp: (f"/jobs/{_expired(backends)}", {}),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), (f"/jobs/{uuid.uuid4()}", {}))[1],
        "503": lambda app, backends, mp: (mp.setattr(backends.jobs, "load", _unavailable),
                                          (f"/jobs/{uuid.uuid4()}", {}))[1],
    },
    ("DELETE", "/jobs/{job_id}"): {
        "200": lambda app, backends, mp: (f"/jobs/{_job(backends)}", {}),
        "204": lambda app, backends, mp: (f"/jobs/{_complete(backends)}", {}),
        "401": lambda app, backends, mp: (f"/jobs/{uuid.uuid4()}", NO_KEY),
        "404": lambda app, backends, mp: ("/jobs/not-a-job-id", {}),
        "409": lambda app, backends, mp: (mp.setattr(backends.jobs, "update", _conflict),
                                          (f"/jobs/{_job(backends)}", {}))[1],
        "410": lambda app, backends, mp: (f"/jobs/{_expired(backends)}", {}),
        "429": lambda app, backends, mp: (_rate_limited(app, mp), (f"/jobs/{uuid.uuid4()}", {}))[1],
        "503": lambda app, backends, mp: (mp.setattr(backends.jobs, "load", _unavailable),
                                          (f"/jobs/{uuid.uuid4()}", {}))[1],
    },
    ("GET", "/jobs/{job_id}/thumbnail"): _output_cases("/jobs/{}/thumbnail"),
    ("GET", "/jobs/{job_id}/outputs/{index}"): _output_cases("/jobs/{}/outputs/0"),
    ("GET", "/healthz"): {"200": lambda app, backends, mp: ("/healthz", NO_KEY)},
    ("GET", "/readyz"): {
        "200": lambda app, backends, mp: ("/readyz", NO_KEY),
        "503": lambda app, backends, mp: (mp.setattr(backends.objects, "ping", _unavailable), ("/readyz", NO_KEY))[1],
    },
    ("GET", "/metrics"): {"200": lambda app, backends, mp: ("/metrics", NO_KEY)},
    ("GET", "/"): {"200": lambda app, backends, mp: ("/", NO_KEY)},
    ("GET", "/static/{filename}"): {
        "200": lambda app, backends, mp: ("/static/docs.js", NO_KEY),
        "404": lambda app, backends, mp: ("/static/nothing.js", NO_KEY),
    },
    ("GET", "/openapi.json"): {"200": lambda app, backends, mp: ("/openapi.json", NO_KEY)},
    ("GET", "/docs"): {"200": lambda app, backends, mp: ("/docs", NO_KEY)},
}


def _no_history(*args, **kwargs):
    raise HistoryUnavailable("job history needs a job database (JOBS_URL)")


def _conflict(*args, **kwargs):
    raise core.Conflict("changed meanwhile")


def _case(method: str, path: str, status: str):
    return CASES.get(("GET" if method == "HEAD" else method, path), {}).get(status)


def _validator(schema: dict) -> Draft202012Validator:
    """A schema of the document, its $refs to #/components resolved against the document."""
    return Draft202012Validator({**schema, "components": SERVED["components"]},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def _resolved(item: dict) -> dict:
    while "$ref" in item:
        kind, name = item["$ref"].split("/")[-2:]
        item = SERVED["components"][kind][name]
    return item


def _media_matches(documented_type: str, actual: str) -> bool:
    kind, _, sub = documented_type.partition("/")
    actual_kind, _, actual_sub = actual.partition("/")
    return kind == actual_kind and sub in ("*", actual_sub)


@pytest.mark.parametrize("method, path, status", statuses(SERVED), ids=lambda value: str(value))
def test_every_documented_status_is_produced_and_matches_its_schema(app, client, backends, monkeypatch,
                                                                    method, path, status):
    make = _case(method, path, status)
    assert make is not None, f"no request in CASES produces {status} for {method} {path}"
    url, arguments = make(app, backends, monkeypatch)
    response = client.open(url, method=method, **arguments)
    assert response.status_code == int(status), response.get_data()[:500]
    documented_response = _resolved(SERVED["paths"][path][method.lower()]["responses"][status])
    for name, header in documented_response.get("headers", {}).items():
        if _resolved(header).get("required"):
            assert name in response.headers, f"{name} missing"
    content = documented_response.get("content", {})
    if not content:
        assert response.get_data() == b""
        return
    media = [name for name in content if _media_matches(name, response.mimetype)]
    assert media, f"{response.mimetype} is not among the documented {sorted(content)}"
    if method == "HEAD":
        assert response.get_data() == b""
    elif response.mimetype == "application/json":
        _validator(content[media[0]]["schema"]).validate(response.get_json())


def test_every_case_is_a_documented_status():
    documented_statuses = set(statuses(SERVED))
    stale = {(method, path, status) for (method, path), by_status in CASES.items() for status in by_status
             if (method, path, status) not in documented_statuses}
    assert not stale, f"cases for statuses api/openapi.yaml does not document: {sorted(stale)}"


def test_the_complete_job_is_documented_as_it_is_answered(client, backends):
    """Beyond the schema: every field the api sends is a property of the documented Job and Output."""
    job = client.get(f"/jobs/{_complete(backends)}").get_json()
    schemas = SERVED["components"]["schemas"]
    assert set(job) <= set(schemas["Job"]["properties"])
    assert set(job["outputs"][0]) <= set(schemas["Output"]["properties"])


# -- schemathesis ----------------------------------------------------------------------------------


# The pytest plugin's lazy loader (schemathesis.pytest.from_fixture) does not work with pytest 9:
# the document is loaded here, and each test sends its requests to that test's own app.
fuzzed = schemathesis.openapi.from_dict(SERVED)
IMAGE = images.jpeg(64, 48)
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_headers_conformance,
          schemathesis.checks.response_schema_conformance]


@fuzzed.parametrize()
@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_get_documented_answers(case, app):
    """Generated requests (Alice's key on every one) get no 500, only documented statuses, content
    types and headers, and bodies that match their schemas. Submissions carry a real image half of
    the time, so that the options are what is fuzzed and accepted jobs are answered too."""
    if case.operation.path == "/jobs" and case.method == "POST" and case.body and len(str(case.body)) % 2:
        if case.media_type == "multipart/form-data":
            case.body["image"] = IMAGE
        elif case.media_type != "application/json":  # a raw image body
            case.body = IMAGE
    case.call_and_validate(app=app, headers=ALICE, checks=CHECKS)
