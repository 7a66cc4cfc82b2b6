"""IAM enforced (moto): the service needs every action of deploy/iam-policy.json, and a policy
lacking one fails clearly, naming it: at start-up, as a 503 naming the dependency, or as a
thumbnailer that stops; never a lost job. Also the ways AWS users hand over credentials."""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys

import boto3
import botocore.config
import pytest

import core
import storage
from processes.ports import free_port
from processes.supervisor import EXIT_DO_NOT_RESTART as EXIT_NOT_PERMITTED
from storage.access import check_access
from storage.aws import make_client
from storage.objects.s3 import S3ObjectStore
from storage.queues.sqs import SqsQueue
from tests import images
from tests.environment import ALICE
from tests.moto_server import ACCOUNT, REGION, MotoServer, policy_actions, queue_url

pytestmark = pytest.mark.moto
_cases = itertools.count(1)
THUMBNAILER_TIMEOUT_SECONDS = 120


def fresh_names() -> tuple[str, str]:
    """A bucket and queue name nobody made yet, so that CreateBucket and CreateQueue are needed."""
    suffix = f"{next(_cases)}-{secrets.token_hex(3)}"
    return f"thumbnails-iam-{suffix}", f"thumbnails-iam-{suffix}"


def as_service(monkeypatch, server: MotoServer, keys, bucket: str, queue: str) -> core.Settings:
    """The environment a deployment gives the api and thumbnailer: its keys, its bucket and queue."""
    for name, value in server.environ(keys).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STORAGE_URL", f"s3://{bucket}")
    monkeypatch.setenv("QUEUE_URL", queue_url(queue))
    return core.Settings.from_env(os.environ)


def run_thumbnailer_burst() -> subprocess.CompletedProcess:
    """`thumbnailer --burst` in this environment: process what is queued, then exit."""
    return subprocess.run([sys.executable, "-m", "thumbnailer", "--burst"], env=dict(os.environ, LOG_LEVEL="INFO"),
                          capture_output=True, text=True, timeout=THUMBNAILER_TIMEOUT_SECONDS)


def queued(server: MotoServer, queue: str) -> int:
    """Messages in the normal queue, waiting or in flight, as the admin sees them."""
    sqs = server.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_requests_are_shaped_like_aws(moto_server, monkeypatch):
    """The service's own clients, configured as on AWS: virtual-hosted S3 in eu-west-1, the SQS
    regional endpoint and account-scoped queue URLs, standard retries."""
    bucket, queue = fresh_names()
    settings = as_service(monkeypatch, moto_server, moto_server.service_user(bucket, queue), bucket, queue)
    backends = storage.connect(settings)
    sent: list[str] = []
    for client in (backends.objects.client, backends.queue.client):
        client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
        assert client.meta.config.retries["mode"] == "standard"
    backends.ensure()
    backends.objects.put("jobs/shape", b"x", "text/plain")
    backends.queue.send("shape")

    assert f"http://{bucket}.s3.{REGION}.amazonaws.com/jobs/shape" in sent
    assert all(url.startswith(f"http://sqs.{REGION}.amazonaws.com/") for url in sent if "sqs." in url)
    assert backends.queue.url == f"http://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"  # https on AWS
    assert moto_server.client("s3").get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION


@pytest.mark.parametrize("removed", ["", *policy_actions()], ids=lambda action: action or "nothing-removed")
def test_each_action_of_the_policy_is_needed_and_its_absence_is_named(removed, moto_server, monkeypatch):
    """Given a user allowed the repo's policy less one action, the service is started and given
    a job as in production. Where it first needs the action, it must stop or refuse, naming it."""
    from api import create_app

    bucket, queue = fresh_names()
    settings = as_service(monkeypatch, moto_server, moto_server.service_user(bucket, queue, without=removed),
                          bucket, queue)

    # The api's start-up: bucket, queues, expiry rule and the access check.
    try:
        app = create_app(settings)
    except core.PermissionDenied as error:
        assert removed and error.action == removed, f"start-up refused {error.action}, not {removed!r}: {error}"
        return
    client = app.test_client()

    # A submission: input and job document written, id sent to the queue.
    accepted = client.post("/jobs", data=images.jpeg(), content_type="image/jpeg", headers=ALICE)
    if accepted.status_code == 503:
        assert removed == "sqs:SendMessage", accepted.json
        body = accepted.json
        assert "queue" in body["message"] and body["job"]
        job = app.extensions["thumbnails.backends"].jobs.load(body["job"])
        assert job.status is core.JobStatus.FAILED and job.code == 503  # the client was told: not lost
        return
    assert accepted.status_code == 202, accepted.json
    job_id = accepted.json["id"]

    # A thumbnailer, started as in production, takes the job.
    finished = run_thumbnailer_burst()
    backends = app.extensions["thumbnails.backends"]
    if finished.returncode == EXIT_NOT_PERMITTED:
        assert removed and removed in finished.stdout + finished.stderr, finished.stdout[-2000:]
        assert backends.jobs.load(job_id).status is core.JobStatus.PENDING
        assert queued(moto_server, queue) == 1, "the job's message must still be queued"
        return
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert not removed, f"without {removed} the service still started, accepted and finished a job"
    assert backends.jobs.load(job_id).status is core.JobStatus.COMPLETE


def test_gunicorn_refuses_to_start_and_names_the_missing_action(moto_server, monkeypatch, tmp_path):
    """What used to be a warning at start-up (no lifecycle permission) stops the real api process."""
    bucket, queue = fresh_names()
    as_service(monkeypatch, moto_server,
               moto_server.service_user(bucket, queue, without="s3:PutLifecycleConfiguration"), bucket, queue)
    env = dict(os.environ, WEB_CONCURRENCY="1", PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = str(free_port())
    api = subprocess.run([sys.executable, "-m", "api", "--bind", f"127.0.0.1:{port}"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert api.returncode != 0
    assert "s3:PutLifecycleConfiguration" in api.stdout + api.stderr
    assert "Worker failed to boot" in api.stdout + api.stderr, (api.stdout + api.stderr)[-3000:]


def test_a_pool_of_thumbnailers_stops_rather_than_restarting_into_the_same_refusal(moto_server, monkeypatch):
    bucket, queue = fresh_names()
    as_service(monkeypatch, moto_server, moto_server.service_user(bucket, queue, without="sqs:ReceiveMessage"),
               bucket, queue)
    pool = subprocess.run([sys.executable, "-m", "thumbnailer"], env=dict(os.environ, THUMBNAILER_PROCESSES="2"),
                          capture_output=True, text=True, timeout=THUMBNAILER_TIMEOUT_SECONDS)
    assert pool.returncode == EXIT_NOT_PERMITTED
    assert "sqs:ReceiveMessage" in pool.stdout + pool.stderr


def test_the_readiness_probe_names_a_refused_dependency(moto_server, monkeypatch):
    """A permission withdrawn after start-up: /readyz says which dependency refuses, and why."""
    from api import create_app

    bucket, queue = fresh_names()
    keys = moto_server.service_user(bucket, queue)
    app = create_app(as_service(monkeypatch, moto_server, keys, bucket, queue))
    moto_server.client("iam").delete_user_policy(UserName=keys.user, PolicyName=f"{keys.user}-policy")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "s3:ListBucket" in response.json["checks"]["storage"]
    assert "sqs:GetQueueAttributes" in response.json["checks"]["queue"]


# -- credentials as AWS users hand them over ------------------------------------------------

class TestCredentials:
    def test_keys_from_the_environment(self, moto_server, monkeypatch):
        bucket, queue = fresh_names()
        keys = moto_server.service_user(bucket, queue)
        as_service(monkeypatch, moto_server, keys, bucket, queue)
        assert make_client("sts").get_caller_identity()["Arn"].endswith(f":user/{keys.user}")

    def test_a_profile_in_the_shared_credentials_and_config_files(self, moto_server, monkeypatch, tmp_path):
        """AWS_PROFILE names a profile; its keys and its region come from ~/.aws-style files."""
        from api import create_app

        bucket, queue = fresh_names()
        keys = moto_server.service_user(bucket, queue)
        as_service(monkeypatch, moto_server, keys, bucket, queue)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)
        credentials, config = tmp_path / "credentials", tmp_path / "config"
        credentials.write_text(f"[thumbnails]\naws_access_key_id = {keys.access_key_id}\n"
                               f"aws_secret_access_key = {keys.secret_access_key}\n")
        config.write_text(f"[profile thumbnails]\nregion = {REGION}\n")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        monkeypatch.setenv("AWS_PROFILE", "thumbnails")

        assert make_client("sts").get_caller_identity()["Arn"].endswith(f":user/{keys.user}")
        app = create_app(core.Settings.from_env(os.environ))  # start-up check passes as that user
        accepted = app.test_client().post("/jobs", data=images.jpeg(), content_type="image/jpeg",
                                          headers=ALICE)
        assert accepted.status_code == 202
        assert run_thumbnailer_burst().returncode == 0
        assert app.extensions["thumbnails.backends"].jobs.load(accepted.json["id"]).status is core.JobStatus.COMPLETE
        location = moto_server.client("s3").get_bucket_location(Bucket=bucket)["LocationConstraint"]
        assert location == REGION  # the profile's region made the bucket

    def test_keys_aws_does_not_know_stop_start_up(self, moto_server, monkeypatch):
        bucket, queue = fresh_names()
        as_service(monkeypatch, moto_server, moto_server.admin, bucket, queue)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        backends = storage.connect(core.Settings.from_env(os.environ))
        with pytest.raises(core.PermissionDenied, match="not accepted at all"):
            backends.ensure()  # HEAD bucket: a bare 403
        # moto answers SQS's JSON protocol with an XML error, which botocore reads as a bare 403;
        # AWS answers with the code (SignatureDoesNotMatch), and the message says so the same way.
        with pytest.raises(core.PermissionDenied, match="not accepted"):
            backends.queue.ping()

    def test_no_credentials_at_all_stop_start_up_with_a_hint(self, moto_server, monkeypatch, tmp_path):
        bucket, queue = fresh_names()
        as_service(monkeypatch, moto_server, moto_server.admin, bucket, queue)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with pytest.raises(core.PermissionDenied, match="AWS_PROFILE"):
            storage.connect(core.Settings.from_env(os.environ)).ensure()

    def test_a_role_assumed_with_a_web_identity_token(self, moto_server, monkeypatch, tmp_path):
        """EKS (IRSA) and ECS-with-OIDC: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE; botocore
        exchanges the token for the role's temporary keys (sts:AssumeRoleWithWebIdentity, an
        unsigned call), and the role's policy, exactly the repo's, lets the service start.

        As far as moto allows: with IAM enforced, moto demands a signature on that unsigned call
        (it answers 500, KeyError HTTP_AUTHORIZATION), so the one exchange is let through
        unsigned; and the clients share one session, so there is one exchange (make_client's
        per-client sessions each make their own on AWS)."""
        bucket, queue = fresh_names()
        role = moto_server.create_role(f"thumbnails-{bucket}", bucket, queue)
        settings = as_service(monkeypatch, moto_server, moto_server.admin, bucket, queue)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        token = tmp_path / "token"
        token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGh1bWJuYWlscyJ9.c2ln")
        monkeypatch.setenv("AWS_ROLE_ARN", role)
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
        monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "thumbnails-test")

        session = boto3.session.Session()
        moto_server.allow_unsigned(1)
        identity = session.client("sts").get_caller_identity()["Arn"]
        assert identity == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/thumbnails-test"
        s3, sqs = session.client("s3", config=botocore.config.Config(s3={"addressing_style": "virtual"})), \
            session.client("sqs")
        backends = storage.Backends(S3ObjectStore(s3, bucket), *(
            SqsQueue(sqs, settings.priority_queue_url(p).rsplit("/", 1)[1], 30) for p in ("normal", "high", "low")))
        backends.ensure()
        backends.jobs.expire_after(settings.retention_seconds)
        check_access(backends, receives=True)
        backends.queue.send("hello")
        assert [m.body for m in backends.queue.receive(wait_seconds=1)] == ["hello"]
