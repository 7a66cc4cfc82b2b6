"""moto's server as a third S3/SQS backend, shaped like AWS, with IAM enforced.

What makes it AWS-shaped rather than another MinIO/ElasticMQ:
- region eu-west-1, so buckets are created with a LocationConstraint;
- the endpoints are AWS's own host names (http://s3.eu-west-1.amazonaws.com, ...), so S3
  requests are virtual-hosted (http://<bucket>.s3.eu-west-1.amazonaws.com/<key>) and SQS
  answers queue URLs of the form http://sqs.eu-west-1.amazonaws.com/123456789012/<name>.
  They reach the moto server on loopback because it is also the HTTP proxy (HTTP_PROXY):
  a proxied plain-HTTP request keeps its AWS Host header, which moto routes on. Only TLS
  differs from AWS. (An endpoint on 127.0.0.1 cannot do virtual hosting: botocore falls back
  to path-style for an IP address, and <bucket>.localhost does not resolve everywhere.)
- AWS_RETRY_MODE=standard, as on AWS;
- IAM enforced: after the first ADMIN_SETUP_CALLS requests (INITIAL_NO_AUTH_ACTION_COUNT)
  every request must be signed by an IAM user's keys and allowed by its policies.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import string
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.config
import pytest
import requests

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = ROOT / "deploy" / "iam-policy.json"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
# create_user, put_user_policy, create_access_key: the admin's set-up, before IAM is enforced.
ADMIN_SETUP_CALLS = 3
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
START_TIMEOUT_SECONDS = 60

moto = pytest.mark.moto
servers = pytest.mark.servers
_users = itertools.count(1)

# Where moto's IAM differs from AWS's, the repo's policy is adapted for moto, and only so:
# each entry is (the policy's action, what moto checks instead or as well, why).
MOTO_ACTION_ALIASES = {
    # AWS authorizes HeadBucket with s3:ListBucket; moto checks an "s3:HeadBucket" action.
    "s3:ListBucket": ["s3:HeadBucket"],
    # AWS authorizes DeleteMessageBatch with sqs:DeleteMessage; moto checks "sqs:DeleteMessageBatch".
    "sqs:DeleteMessage": ["sqs:DeleteMessageBatch"],
}
# moto evaluates these against the resource "*" (it does not name the queue of a CreateQueue or
# GetQueueUrl request), so a grant on the three queue ARNs never matches there: against moto they
# are granted on "*". That they are limited to the three queues is shown only by real AWS.
MOTO_UNSCOPED_ACTIONS = {"sqs:CreateQueue", "sqs:GetQueueUrl"}


def policy_actions() -> list[str]:
    """Every action deploy/iam-policy.json grants, in its order."""
    policy = json.loads(POLICY_FILE.read_text())
    return [action for statement in policy["Statement"] for action in _listed(statement["Action"])]


def repo_policy(bucket: str, queue: str, without: str = "") -> dict:
    """deploy/iam-policy.json for one bucket and queue name (the -high and -low queues follow),
    less one action if asked, adapted to moto's IAM as MOTO_ACTION_ALIASES and
    MOTO_UNSCOPED_ACTIONS say."""
    text = string.Template(POLICY_FILE.read_text()).substitute(
        BUCKET=bucket, QUEUE=queue, AWS_REGION=REGION, AWS_ACCOUNT_ID=ACCOUNT)
    policy = json.loads(text)
    statements, unscoped = [], []
    for statement in policy["Statement"]:
        actions = [action for action in _listed(statement["Action"]) if action != without]
        unscoped += [action for action in actions if action in MOTO_UNSCOPED_ACTIONS]
        actions = [action for action in actions if action not in MOTO_UNSCOPED_ACTIONS]
        actions += [alias for action in actions for alias in MOTO_ACTION_ALIASES.get(action, [])]
        if actions:
            statements.append({**statement, "Action": actions})
    if unscoped:
        statements.append({"Sid": "MotoUnscoped", "Effect": "Allow", "Action": unscoped, "Resource": "*"})
    return {**policy, "Statement": statements}


def _listed(value) -> list[str]:
    return value if isinstance(value, list) else [value]


@dataclasses.dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str
    user: str

    @property
    def environ(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


class MotoServer:
    """`python -m moto.server` on a free loopback port, with IAM enforced after the admin's set-up."""

    def __init__(self, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen | None = None
        self.admin: Keys | None = None

    def start(self) -> MotoServer:
        env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(ADMIN_SETUP_CALLS)
        output = open(self.log, "w") if self.log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"moto server exited with {self.process.returncode}")
            try:
                requests.get(f"{self.url}/moto-api/data.json", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"moto server did not answer within {START_TIMEOUT_SECONDS} s") from None
                time.sleep(0.2)
        self.admin = self.create_user("admin", ADMIN_POLICY, signing=Keys("setup", "setup", "setup"))
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def environ(self, keys: Keys | None = None) -> dict[str, str]:
        """The variables that point botocore (the service, and the tests' clients) at moto as at AWS."""
        keys = keys or self.admin
        assert keys is not None
        proxies = {name: self.url for name in ("HTTP_PROXY", "http_proxy")}
        loopback = {name: "127.0.0.1,localhost" for name in ("NO_PROXY", "no_proxy")}
        return {
            **proxies, **loopback, **keys.environ,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": f"http://s3.{REGION}.amazonaws.com",
            "AWS_ENDPOINT_URL_SQS": f"http://sqs.{REGION}.amazonaws.com",
            "AWS_ENDPOINT_URL_IAM": "http://iam.amazonaws.com",
            "AWS_ENDPOINT_URL_STS": f"http://sts.{REGION}.amazonaws.com",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "2",
            "S3_ADDRESSING_STYLE": "virtual",
        }

    def client(self, service: str, keys: Keys | None = None):
        """A plain boto3 client for test set-up, as `keys` (the admin by default)."""
        environ = self.environ(keys)
        session = boto3.session.Session(aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
                                        aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"], region_name=REGION)
        return session.client(service, endpoint_url=environ[f"AWS_ENDPOINT_URL_{service.upper()}"],
                              config=botocore.config.Config(proxies={"http": self.url}))

    def create_user(self, name: str, policy: dict, signing: Keys | None = None) -> Keys:
        """An IAM user whose only permissions are `policy` (an inline policy), and its keys."""
        iam = self.client("iam", signing)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"], name)

    def service_user(self, bucket: str, queue: str, without: str = "") -> Keys:
        """A user allowed exactly the repo's policy (less `without`) on this bucket and queue."""
        return self.create_user(f"thumbnails-{next(_users)}", repo_policy(bucket, queue, without))


    def allow_unsigned(self, requests_count: int) -> None:
        """Let the next requests through without a signature (moto's reset-auth, the server-mode
        set_initial_no_auth_action_count); IAM is enforced again after them."""
        answer = requests.post(f"{self.url}/moto-api/reset-auth", data=str(requests_count).encode(), timeout=5)
        answer.raise_for_status()

    def create_role(self, name: str, bucket: str, queue: str) -> str:
        """A role allowed exactly the repo's policy, which a web identity (an EKS service
        account's OIDC token) may assume; returns its ARN."""
        iam = self.client("iam")
        provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/TEST"
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy",
                            PolicyDocument=json.dumps(repo_policy(bucket, queue)))
        return arn


def queue_url(name: str) -> str:
    """QUEUE_URL as an AWS user writes it."""
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the S3/SQS tests run: the real MinIO/ElasticMQ ("servers") or moto."""

    name: str
    bucket: str
    environ: dict[str, str]  # what to set over testing.env

    def queue_url(self, name: str) -> str:
        return queue_url(name) if self.name == "moto" else f"sqs://{name}"


# A test (or module, as pytestmark) marked with this runs once on each S3/SQS backend.
ON_EACH_AWS_BACKEND = pytest.mark.parametrize(
    "aws_target", [pytest.param("servers", marks=servers), pytest.param("moto", marks=moto)], indirect=True)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_bucket(moto_server) -> str:
    """One bucket for the run (job ids keep tests apart), created the way the service does."""
    from storage.objects.s3 import S3ObjectStore
    from tests.environment import RUN_ID

    s3 = moto_server.client("s3")
    S3ObjectStore(s3, RUN_ID).ensure()
    return RUN_ID


@pytest.fixture(scope="session")
def aws_target(request) -> Target:
    """The real servers unless a test is parametrized with ON_EACH_AWS_BACKEND."""
    name = getattr(request, "param", "servers")
    if name == "moto":
        return Target("moto", request.getfixturevalue("moto_bucket"),
                      request.getfixturevalue("moto_server").environ())
    return Target("servers", request.getfixturevalue("bucket_name"), {})
