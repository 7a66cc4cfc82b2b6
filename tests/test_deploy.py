"""The Helm chart (deploy/helm/thumbnails) renders and validates offline.

`helm lint` and `helm template` run the real helm (scripts/tools.sh builds it); every rendered
Kubernetes object is checked against the Kubernetes API schemas the `kubernetes-validate`
package ships, and KEDA's objects against the schemas of KEDA's own CRDs (tests/data/keda,
Apache-2.0). Then what the chart promises is checked on the rendered objects: probes, the
image's numeric user, a read-only root, resources from the documented memory bound, grace
periods, IRSA, PDBs, the api's HPA, and a KEDA ScaledObject on all three priority queues.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

import core

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "thumbnails"
EKS_VALUES = ROOT / "tests" / "data" / "helm" / "eks.yaml"
KEDA_SCHEMAS = ROOT / "tests" / "data" / "keda"
KUBERNETES_VERSION = "1.33.0"
MIB = 1024 * 1024
IDLE_PROCESS_BYTES = 60 * MIB  # README, Memory bound
BYTES_PER_PIXEL = 8


def helm_binary() -> str:
    """$HELM, else the helm scripts/tools.sh builds, else one on PATH."""
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    version = re.search(r"^HELM_VERSION=(\S+)", (ROOT / "scripts" / "tools.sh").read_text(), re.M).group(1)
    cache = Path(os.environ.get("THUMBNAILS_CACHE") or Path.home() / ".cache" / "thumbnails")
    built = cache / f"helm-{version}" / "helm"
    if built.is_file():
        return str(built)
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    pytest.fail("helm is not installed: run scripts/tools.sh (scripts/test.sh does)")


def helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)


def render(*args: str, values: Path | None = EKS_VALUES) -> list[dict]:
    files = ["-f", str(values)] if values else []
    result = helm("template", "thumbs", str(CHART), "--kube-version", KUBERNETES_VERSION, *files, *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(*args: str, values: Path | None = EKS_VALUES) -> str:
    files = ["-f", str(values)] if values else []
    result = helm("template", "thumbs", str(CHART), "--kube-version", KUBERNETES_VERSION, *files, *args)
    assert result.returncode != 0, "rendering should have failed"
    return result.stderr


def strict(schema):
    """KEDA's schema with unknown fields refused: the API server would silently prune them
    (a misspelt minReplicaCount would just vanish), so here they are errors."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


KEDA = {}
for _path in KEDA_SCHEMAS.glob("*.json"):
    _crd = json.loads(_path.read_text())
    KEDA[(_crd["apiVersion"], _crd["kind"])] = strict(_crd["openAPIV3Schema"])


def validate(obj: dict) -> None:
    """Raise if the object does not match its schema (Kubernetes' or KEDA's)."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in KEDA:
        jsonschema.validate(obj, KEDA[key])
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    """The chart rendered with an EKS operator's values, by (kind, component or name)."""
    rendered = {}
    for obj in render():
        labels = obj["metadata"].get("labels", {})
        rendered[(obj["kind"], labels.get("app.kubernetes.io/component", obj["metadata"]["name"]))] = obj
    return rendered


def deployment(objects, component) -> dict:
    return objects[("Deployment", component)]


def container(objects, component) -> dict:
    [only] = deployment(objects, component)["spec"]["template"]["spec"]["containers"]
    return only


def config_map(objects) -> dict:
    [data] = [obj["data"] for (kind, _), obj in objects.items() if kind == "ConfigMap"]
    return data


def quantity(value: str) -> int:
    """Bytes of a Kubernetes memory quantity (512Mi, 1Gi, 1152Mi, 1000M)."""
    units = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3}
    number, unit = re.fullmatch(r"(\d+)([KMG]i?)?", str(value)).groups()
    return int(number) * units.get(unit, 1)


def cpus(value: str) -> float:
    value = str(value)
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


# -- helm itself ------------------------------------------------------------------------------

def test_helm_lint_passes_strictly():
    result = helm("lint", "--strict", str(CHART), "--kube-version", KUBERNETES_VERSION, "-f", str(EKS_VALUES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rendered_object_matches_its_schema(objects):
    for obj in objects.values():
        validate(obj)


def test_the_chart_renders_the_objects_it_promises(objects):
    assert set(objects) >= {
        ("Deployment", "api"), ("Service", "api"), ("HorizontalPodAutoscaler", "api"),
        ("PodDisruptionBudget", "api"), ("Deployment", "thumbnailer"), ("PodDisruptionBudget", "thumbnailer"),
        ("ScaledObject", "thumbnailer"), ("TriggerAuthentication", "thumbnailer"),
    }
    assert any(kind == "ServiceAccount" for kind, _ in objects)


# -- the validators can fail --------------------------------------------------------------------

def test_the_kubernetes_validator_refuses_a_broken_deployment(objects):
    broken = copy.deepcopy(deployment(objects, "api"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSecond"] = 10  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


@pytest.mark.parametrize("mutate", [
    lambda so: so["spec"].update(minReplicaCunt=0),                    # unknown field
    lambda so: so["spec"]["triggers"][0].pop("type"),                  # a trigger needs its type
    lambda so: so["spec"].update(minReplicaCount="zero"),              # wrong type
])
def test_the_keda_schema_refuses_a_broken_scaled_object(objects, mutate):
    broken = copy.deepcopy(objects[("ScaledObject", "thumbnailer")])
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


# -- bad values, clear errors -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["image.repository", "aws.region", "aws.bucket", "aws.queueUrl",
                                  "serviceAccount.roleArn"])
def test_each_required_value_is_named_when_missing(name):
    assert name in render_error("--set", f"{name}=")


def test_a_queue_url_that_is_not_one_is_refused():
    error = render_error("--set", "aws.queueUrl=sqs://thumbnails")
    assert "aws.queueUrl must look like https://sqs.REGION.amazonaws.com/ACCOUNT/NAME" in error


# -- what the objects promise ------------------------------------------------------------------

def test_pods_run_as_the_images_numeric_user_on_a_read_only_root(objects):
    uid = re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert re.search(rf"^USER {uid}:", (ROOT / "Dockerfile").read_text(), re.M)
    for component in ("api", "thumbnailer"):
        pod = deployment(objects, component)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == int(uid)
        security = container(objects, component)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        # /tmp is the one place written (uploads spool, gunicorn and metrics files): an emptyDir.
        tmp = [mount for mount in container(objects, component)["volumeMounts"] if mount["mountPath"] == "/tmp"]
        assert len(tmp) == 1
        [volume] = [v for v in pod["volumes"] if v["name"] == tmp[0]["name"]]
        assert "emptyDir" in volume


def test_the_api_is_probed_on_healthz_and_readyz(objects):
    api = container(objects, "api")
    port = next(p for p in api["ports"] if p["name"] == "http")["containerPort"]
    assert {"name": "PORT", "value": str(port)} in api["env"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert objects[("Service", "api")]["spec"]["ports"][0]["targetPort"] == "http"


def test_the_thumbnailer_is_probed_on_its_metrics_port(objects):
    thumbnailer = container(objects, "thumbnailer")
    port = next(p for p in thumbnailer["ports"] if p["name"] == "metrics")["containerPort"]
    assert {"name": "THUMBNAILER_METRICS_PORT", "value": str(port)} in thumbnailer["env"]
    assert thumbnailer["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}


def test_the_thumbnailer_pod_is_one_scrape_target(objects):
    """However many processes it runs, a pod has one metrics port (processes.metrics sums them)."""
    thumbnailer = container(objects, "thumbnailer")
    [port] = thumbnailer["ports"]
    annotations = objects[("Deployment", "thumbnailer")]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_thumbnailers_memory_covers_the_documented_bound(objects):
    """README: 60 MiB + THUMBNAILER_THREADS x MAX_UPLOAD_BYTES + 8 bytes x MAX_IMAGE_PIXELS per
    process, and one process per CPU of the limit."""
    data = config_map(objects)
    resources = container(objects, "thumbnailer")["resources"]
    processes = max(1, int(cpus(resources["limits"]["cpu"])))
    bound = IDLE_PROCESS_BYTES + int(data["THUMBNAILER_THREADS"]) * int(data["MAX_UPLOAD_BYTES"]) \
        + BYTES_PER_PIXEL * int(data["MAX_IMAGE_PIXELS"])
    assert quantity(resources["limits"]["memory"]) >= processes * bound
    assert quantity(resources["requests"]["memory"]) == quantity(resources["limits"]["memory"])


def test_the_api_has_resources_and_scales_on_cpu(objects):
    resources = container(objects, "api")["resources"]
    assert quantity(resources["limits"]["memory"]) >= 256 * MIB and "cpu" in resources["requests"]
    hpa = objects[("HorizontalPodAutoscaler", "api")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment(objects, "api")["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    assert "replicas" not in deployment(objects, "api")["spec"]  # the HPA owns it


def test_grace_periods_outlast_what_each_process_finishes(objects):
    graceful = int(re.search(r"^graceful_timeout = (\d+)", (ROOT / "api" / "gunicorn.conf.py").read_text(),
                             re.M).group(1))
    api = deployment(objects, "api")["spec"]["template"]["spec"]
    assert api["terminationGracePeriodSeconds"] > graceful
    # A job in hand through a storage outage is let go after ~2.5 minutes (README, Outages).
    thumbnailer = deployment(objects, "thumbnailer")["spec"]["template"]["spec"]
    assert thumbnailer["terminationGracePeriodSeconds"] > 150


def test_both_components_have_disruption_budgets(objects):
    for component in ("api", "thumbnailer"):
        budget = objects[("PodDisruptionBudget", component)]["spec"]
        labels = deployment(objects, component)["spec"]["template"]["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
    # The thumbnailers scale to zero: a minAvailable would block every drain.
    assert "maxUnavailable" in objects[("PodDisruptionBudget", "thumbnailer")]["spec"]


def test_the_pods_assume_the_irsa_role(objects):
    [account] = [obj for (kind, _), obj in objects.items() if kind == "ServiceAccount"]
    values = yaml.safe_load(EKS_VALUES.read_text())
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == values["serviceAccount"]["roleArn"]
    for component in ("api", "thumbnailer"):
        assert deployment(objects, component)["spec"]["template"]["spec"]["serviceAccountName"] \
            == account["metadata"]["name"]


def test_settings_in_the_config_map_are_valid(objects):
    settings = core.Settings.from_env(config_map(objects))
    values = yaml.safe_load(EKS_VALUES.read_text())
    assert settings.bucket == values["aws"]["bucket"]
    assert settings.queue_url == values["aws"]["queueUrl"]


def test_keda_scales_on_all_three_priority_queues_down_to_zero(objects):
    """The queues KEDA watches are exactly the ones the code derives from QUEUE_URL."""
    settings = core.Settings.from_env(config_map(objects))
    expected = {settings.priority_queue_url(priority) for priority in ("high", "normal", "low")}
    scaled = objects[("ScaledObject", "thumbnailer")]["spec"]
    assert scaled["scaleTargetRef"]["name"] == deployment(objects, "thumbnailer")["metadata"]["name"]
    assert scaled["minReplicaCount"] == 0
    triggers = scaled["triggers"]
    assert {trigger["type"] for trigger in triggers} == {"aws-sqs-queue"}
    assert {trigger["metadata"]["queueURL"] for trigger in triggers} == expected
    # In-flight messages count, so a busy thumbnailer is not scaled away under its jobs.
    assert all(trigger["metadata"]["scaleOnInFlight"] == "true" for trigger in triggers)
    # One metric: the sum over the three queues.
    formula = scaled["advanced"]["scalingModifiers"]["formula"]
    assert sorted(re.findall(r"\w+", formula)) == sorted(trigger["name"] for trigger in triggers)
    assert "replicas" not in deployment(objects, "thumbnailer")["spec"]  # KEDA owns it
    auth = objects[("TriggerAuthentication", "thumbnailer")]
    assert all(trigger["authenticationRef"]["name"] == auth["metadata"]["name"] for trigger in triggers)


def test_without_keda_the_thumbnailers_have_a_fixed_count():
    rendered = render("--set", "thumbnailer.keda.enabled=false", "--set", "thumbnailer.replicas=3")
    kinds = {obj["kind"] for obj in rendered}
    assert "ScaledObject" not in kinds and "TriggerAuthentication" not in kinds
    [thumbnailer] = [obj for obj in rendered if obj["kind"] == "Deployment"
                     and obj["metadata"]["labels"]["app.kubernetes.io/component"] == "thumbnailer"]
    assert thumbnailer["spec"]["replicas"] == 3
    for obj in rendered:
        validate(obj)


def test_api_keys_come_from_a_secret_mounted_read_only(objects):
    api = container(objects, "api")
    keys_file = next(item["value"] for item in api["env"] if item["name"] == "API_KEYS_FILE")
    [mount] = [m for m in api["volumeMounts"] if keys_file.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    assert not any(item["name"] == "API_KEYS_FILE" for item in container(objects, "thumbnailer")["env"])
