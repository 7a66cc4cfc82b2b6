"""docker-compose.yaml, the env files, the Dockerfile and .dockerignore agree with the code.

These read the files; scripts/compose-test.sh runs the same compose file for real (scripts/test.sh
runs it after pytest), which these checks cannot replace.
"""

import re
import tomllib
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
APP = ("api", "thumbnailer")
DOCKERFILE = (ROOT / "Dockerfile").read_text()
MIB = 1024 * 1024


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


def published(service: str) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port) of a service's published ports."""
    ports = {}
    for entry in SERVICES[service].get("ports", []):
        address, host_port, container_port = entry.split(":")
        ports[int(container_port)] = (address, int(host_port))
    return ports


def test_compose_has_the_four_components():
    assert {"minio", "elasticmq", "api", "thumbnailer"} <= set(SERVICES)
    for name in APP:
        assert SERVICES[name]["env_file"] == "service.env"
        assert (ROOT / SERVICES[name]["build"]["dockerfile"]).is_file()


def test_one_image_for_both_roles_differing_by_command():
    api, thumbnailer = SERVICES["api"], SERVICES["thumbnailer"]
    assert api["build"] == thumbnailer["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert api["image"] == thumbnailer["image"]
    assert api["command"] == ["thumbnails-api"] and thumbnailer["command"] == ["thumbnailer"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"thumbnails-api", "thumbnailer"} <= set(scripts)
    assert not (ROOT / "api" / "Dockerfile").exists() and not (ROOT / "thumbnailer" / "Dockerfile").exists()


def test_service_env_points_at_compose_services_and_their_ports():
    values = env("service.env")
    s3, sqs = urlparse(values["AWS_ENDPOINT_URL_S3"]), urlparse(values["AWS_ENDPOINT_URL_SQS"])
    assert s3.hostname == "minio" and s3.port in published("minio")
    assert sqs.hostname == "elasticmq" and sqs.port in published("elasticmq")


def test_the_app_is_not_minios_root_user():
    app, minio = env("service.env"), env("minio.env")
    assert app["AWS_ACCESS_KEY_ID"] != minio["MINIO_ROOT_USER"]
    assert not {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"} & set(app)
    assert SERVICES["minio"]["env_file"] == "minio.env"
    for name in APP:
        assert "minio.env" not in str(SERVICES[name]["env_file"])
    # create-bucket makes the app's user with the least-privilege policy, and attaches it.
    script = "\n".join(SERVICES["create-bucket"]["entrypoint"])
    policy = next(v for v in SERVICES["create-bucket"]["volumes"] if "minio-policy.json" in v)
    assert (ROOT / policy.split(":")[0].removeprefix("./")).is_file()
    assert "mc admin user add local \"$$AWS_ACCESS_KEY_ID\"" in script
    assert "mc admin policy attach local thumbnails-app --user" in script


def test_published_ports_are_on_loopback_only():
    for name in SERVICES:
        for address, _ in published(name).values():
            assert address == "127.0.0.1", f"{name} publishes on {address}"


def test_the_app_waits_for_a_healthy_queue_and_a_made_bucket():
    assert "healthcheck" in SERVICES["elasticmq"] and "healthcheck" in SERVICES["minio"]
    for name in APP:
        assert SERVICES[name]["depends_on"]["elasticmq"] == {"condition": "service_healthy"}
        assert SERVICES[name]["depends_on"]["create-bucket"] == {"condition": "service_completed_successfully"}


def seconds(duration: str) -> int:
    return int(duration.removesuffix("s"))


def test_the_api_stops_after_gunicorns_graceful_timeout():
    graceful = int(re.search(r"^graceful_timeout = (\d+)", (ROOT / "api" / "gunicorn.conf.py").read_text(),
                             re.M).group(1))
    assert seconds(SERVICES["api"]["stop_grace_period"]) > graceful
    assert seconds(SERVICES["thumbnailer"]["stop_grace_period"]) >= 30


def memory(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG])", value).groups()
    return int(number) * {"K": 1024, "M": MIB, "G": 1024 * MIB}[unit]


def test_every_service_has_a_memory_limit():
    for name, service in SERVICES.items():
        if name == "create-bucket":
            continue
        assert "memory" in service["deploy"]["resources"]["limits"], name


def test_the_thumbnailers_limit_covers_the_documented_memory_bound():
    """README: 60 MiB + THUMBNAILER_THREADS x MAX_UPLOAD_BYTES + 8 bytes x MAX_IMAGE_PIXELS per
    process, one process per CPU of the limit (cgroup cpu.max)."""
    settings = core.Settings.from_env(env("service.env"))
    limits = SERVICES["thumbnailer"]["deploy"]["resources"]["limits"]
    per_process = 60 * MIB + settings.thumbnailer_threads * settings.max_upload_bytes + 8 * settings.max_image_pixels
    assert memory(limits["memory"]) >= int(float(limits["cpus"])) * per_process


def test_the_test_override_changes_only_ports_and_the_key():
    override = yaml.load((ROOT / "scripts" / "compose-test.yaml").read_text(), Loader=ComposeLoader)
    for name, service in override["services"].items():
        assert set(service) <= {"ports", "environment"}, name
        if "environment" in service:
            assert set(service["environment"]) == {"API_KEYS"}
    text = (ROOT / "scripts" / "compose-test.yaml").read_text()
    for port in re.findall(r'"127\.0\.0\.1:(\d+):\d+"', text):
        assert 19000 <= int(port) <= 19999, "the tests' own servers use 9000, 9324, 8000"


class ComposeLoader(yaml.SafeLoader):
    """Reads compose's merge tags (!override, !reset) as plain values."""


ComposeLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node)
                              if isinstance(node, yaml.SequenceNode) else loader.construct_scalar(node))
ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_the_dockerfile_caches_dependencies_before_the_sources():
    lines = [line for line in instructions(DOCKERFILE) if line.startswith(("COPY", "RUN", "USER"))]
    first_install = next(i for i, line in enumerate(lines) if "pip install" in line)
    copy_all = next(i for i, line in enumerate(lines) if line.startswith("COPY . "))
    assert lines[first_install - 1] == "COPY pyproject.toml ./" and first_install < copy_all
    # No package listed one by one: new packages need no change here.
    for package in ("storage", "api", "thumbnailer", "cli"):
        assert f"COPY {package}" not in DOCKERFILE


def test_the_image_runs_as_a_numeric_user_with_a_writable_data_folder():
    uid = re.search(r"--uid (\d+)", DOCKERFILE).group(1)
    assert re.search(rf"^USER {uid}:{uid}$", DOCKERFILE, re.M)
    assert f"chown {uid}:{uid} /app/data" in DOCKERFILE
    assert re.search(r"^WORKDIR /app$", DOCKERFILE, re.M)
    assert core.settings.DEFAULT_DATA_DIR == "data"  # ./data under WORKDIR /app


def test_the_health_check_uses_the_port_the_api_listens_on():
    healthcheck = next(line for line in instructions(DOCKERFILE) if line.startswith("HEALTHCHECK"))
    assert "os.environ.get('PORT'" in healthcheck and "8000" in healthcheck
    assert "PORT" in (ROOT / "api" / "gunicorn.conf.py").read_text()


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "data", ".services", "**/__pycache__", "*.env", "**/api-keys*"} <= ignored
    # Nothing the package install needs is left out.
    needed = {"pyproject.toml", "README.md"} | set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                                                   ["tool"]["setuptools"]["packages"]["find"]["include"])
    assert not needed & ignored and not {pattern.rstrip("*") for pattern in needed} & ignored


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
    assert f"local/{bucket}" in "\n".join(SERVICES["create-bucket"]["entrypoint"])
    policy = (ROOT / "deploy" / "compose" / "minio-policy.json").read_text()
    assert f"arn:aws:s3:::{bucket}" in policy


@pytest.mark.parametrize("name", ["localhost.env", "testing.env"])
def test_host_env_files_use_the_published_ports(name):
    values = env(name)
    for variable, service in (("AWS_ENDPOINT_URL_S3", "minio"), ("AWS_ENDPOINT_URL_SQS", "elasticmq")):
        url = urlparse(values[variable])
        assert url.hostname == "127.0.0.1"
        assert published(service)[url.port] == ("127.0.0.1", url.port)


def test_api_port_matches_gunicorn_and_compose():
    port = int(SERVICES["api"]["environment"]["PORT"])
    assert published("api")[port] == ("127.0.0.1", port)
    assert "PORT" in (ROOT / "api" / "gunicorn.conf.py").read_text()


def test_the_thumbnailers_health_check_is_its_metrics_port():
    port = SERVICES["thumbnailer"]["environment"]["THUMBNAILER_METRICS_PORT"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(SERVICES["thumbnailer"]["healthcheck"]["test"])
