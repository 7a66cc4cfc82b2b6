"""docker compose cannot run here, so check that its file and the env files agree with the code."""

import re
from urllib.parse import urlparse

import pytest
import yaml
from dotenv import dotenv_values

import core
from tests.environment import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
ENV_FILES = ["service.env", "localhost.env", "testing.env"]
# Variables botocore reads by itself, and the ones only the minio container or the tests read.
BOTOCORE = {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"}
OTHERS = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "TEST_NAME_PREFIX"}


def settings_variables() -> set[str]:
    """Every variable Settings.from_env reads, taken from its source."""
    source = (ROOT / "core" / "settings.py").read_text()
    return set(re.findall(r'(?:_\w+\(\s*environ,|environ\.get\()\s*"([A-Z0-9_]+)"', source))


def env(name: str) -> dict:
    return dotenv_values(ROOT / name)


def port_of(url: str) -> int:
    return urlparse(url).port


def test_the_code_reads_the_variables_we_think():
    assert {"STORAGE_URL", "QUEUE_URL", "MAX_UPLOAD_BYTES", "MAX_IMAGE_PIXELS"} <= settings_variables()


@pytest.mark.parametrize("name", ENV_FILES)
def test_env_file_is_complete_and_valid(name):
    values = env(name)
    assert set(values) <= settings_variables() | BOTOCORE | OTHERS, "unknown variables"
    assert BOTOCORE <= set(values), "botocore settings missing"
    settings = core.Settings.from_env(values)
    assert settings.s3_addressing_style == "path"  # MinIO wants path-style


def test_compose_has_the_four_components():
    assert {"minio", "elasticmq", "api", "thumbnailer"} <= set(SERVICES)
    for name in ("api", "thumbnailer"):
        assert SERVICES[name]["env_file"] == "service.env"
        assert (ROOT / SERVICES[name]["build"]["dockerfile"]).is_file()


def test_service_env_points_at_compose_services_and_their_ports():
    values = env("service.env")
    s3, sqs = urlparse(values["AWS_ENDPOINT_URL_S3"]), urlparse(values["AWS_ENDPOINT_URL_SQS"])
    assert s3.hostname == "minio" and f"{s3.port}:{s3.port}" in SERVICES["minio"]["ports"]
    assert sqs.hostname == "elasticmq" and f"{sqs.port}:{sqs.port}" in SERVICES["elasticmq"]["ports"]
    assert values["MINIO_ROOT_USER"] == values["AWS_ACCESS_KEY_ID"]
    assert values["MINIO_ROOT_PASSWORD"] == values["AWS_SECRET_ACCESS_KEY"]


def test_elasticmq_hands_out_queue_urls_other_containers_can_reach():
    volume = next(v for v in SERVICES["elasticmq"]["volumes"] if v.endswith(":/opt/elasticmq.conf:ro"))
    conf = (ROOT / volume.split(":")[0]).read_text()
    sqs = urlparse(env("service.env")["AWS_ENDPOINT_URL_SQS"])
    assert f"host = {sqs.hostname}" in conf and f"port = {sqs.port}" in conf
    assert "-Xmx" in SERVICES["elasticmq"]["environment"]["JAVA_OPTS"]


def test_elasticmq_keeps_its_messages_across_restarts():
    volume = next(v for v in SERVICES["elasticmq"]["volumes"] if v.endswith(":/opt/elasticmq.conf:ro"))
    conf = (ROOT / volume.split(":")[0]).read_text()
    assert "messages-storage { enabled = true" in conf and "queues-storage { enabled = true" in conf
    data = next(v for v in SERVICES["elasticmq"]["volumes"] if v.endswith(":/data"))
    assert data.split(":")[0] in COMPOSE["volumes"]


def test_the_bucket_compose_creates_is_the_one_the_code_uses():
    bucket = core.Settings.from_env(env("service.env")).bucket
    assert f"local/{bucket}" in SERVICES["create-bucket"]["entrypoint"]


@pytest.mark.parametrize("name", ["localhost.env", "testing.env"])
def test_host_env_files_use_the_published_ports(name):
    values = env(name)
    for variable, service in (("AWS_ENDPOINT_URL_S3", "minio"), ("AWS_ENDPOINT_URL_SQS", "elasticmq")):
        url = urlparse(values[variable])
        assert url.hostname == "127.0.0.1"
        assert f"{url.port}:{url.port}" in SERVICES[service]["ports"]


def test_api_port_matches_gunicorn_and_compose():
    port = SERVICES["api"]["environment"]["PORT"]
    assert f"{port}:{port}" in SERVICES["api"]["ports"]
    assert "PORT" in (ROOT / "api" / "gunicorn.conf.py").read_text()
