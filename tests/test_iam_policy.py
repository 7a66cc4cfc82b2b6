"""deploy/iam-policy.json grants exactly the AWS actions the production code calls.

The production sources are parsed (never imported or run): every `self.client.<method>(...)`
call, and every `get_paginator("<operation>")` and `generate_presigned_url("<operation>")`, is
looked up in botocore's own service models for S3 and SQS and mapped to the IAM action that
authorizes it. Each must be in the policy, on the right resource, and the policy must grant
nothing else.
"""

import ast
import json
import re
import tomllib
from pathlib import Path

import botocore.session
import pytest

import core
from storage.aws import IAM_ACTION_OF

ROOT = Path(__file__).resolve().parent.parent
POLICY = json.loads((ROOT / "deploy" / "iam-policy.json").read_text())
MINIO_POLICY = json.loads((ROOT / "deploy" / "compose" / "minio-policy.json").read_text())
SERVICES = ("s3", "sqs")
# Operations whose IAM action is not named after the operation itself: the table the code
# uses to name a refused action (storage.aws), so the two never disagree.
ACTION_OF = IAM_ACTION_OF
# Methods only the tests call to clean up after themselves: production never deletes a
# bucket or a queue, so the policy must not allow it.
TEST_CLEANUP_METHODS = {"delete_bucket", "delete_queue"}
OBJECT_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}


def production_sources() -> list[Path]:
    """The packages the project installs (pyproject's setuptools include patterns)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in patterns}
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def operations_by_method() -> dict[str, set[str]]:
    """boto3 method name (put_object) -> the services that have it, as "s3:PutObject"."""
    session = botocore.session.get_session()
    methods: dict[str, set[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            methods.setdefault(botocore.xform_name(operation), set()).add(f"{service}:{operation}")
    return methods


def client_calls(path: Path) -> list[tuple[str, str, int]]:
    """(method, enclosing function, line) for each self.client.<method>(...) in one file."""
    calls = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                    and isinstance(child.func.value, ast.Attribute) and child.func.value.attr == "client" \
                    and isinstance(child.func.value.value, ast.Name) and child.func.value.value.id == "self":
                method = child.func.attr
                # A paginator, and a pre-signed URL (whose use S3 authorizes as the signer's own
                # call of that operation), name their operation in their first argument.
                if method in ("get_paginator", "generate_presigned_url"):
                    argument = child.args[0]
                    assert isinstance(argument, ast.Constant), f"{path}:{child.lineno}: operation name is not a literal"
                    method = argument.value
                calls.append((method, name, child.lineno))
            visit(child, name)

    visit(ast.parse(path.read_text(), str(path)), "")
    return calls


def called_actions() -> dict[str, list[str]]:
    """IAM action -> where production code needs it."""
    methods = operations_by_method()
    actions: dict[str, list[str]] = {}
    for path in production_sources():
        for method, function, line in client_calls(path):
            where = f"{path.relative_to(ROOT)}:{line} ({function})"
            if method in ("meta", "exceptions", "can_paginate"):
                continue
            operations = methods.get(method, set())
            assert len(operations) == 1, f"{where}: self.client.{method} is {operations or 'no'} S3/SQS operation"
            if function in TEST_CLEANUP_METHODS:
                continue
            [operation] = operations
            actions.setdefault(ACTION_OF.get(operation, operation), []).append(where)
    return actions


def granted(policy) -> dict[str, set[str]]:
    """IAM action -> the resources the policy grants it on."""
    grants: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            assert "*" not in action, f"{action}: name each action"
            grants.setdefault(action, set()).update(resources)
    return grants


def test_the_scan_finds_the_calls_we_know_of():
    """Guards the scanner itself: these calls exist today, so it must see them."""
    actions = called_actions()
    assert {"s3:PutObject", "s3:GetObject", "sqs:ReceiveMessage", "sqs:DeleteMessage"} <= set(actions)
    functions = {function for path in production_sources() for _, function, _ in client_calls(path)}
    assert TEST_CLEANUP_METHODS <= functions, "a clean-up method was renamed: update TEST_CLEANUP_METHODS"


def test_every_call_the_code_makes_is_allowed():
    missing = {action: where for action, where in called_actions().items() if action not in granted(POLICY)}
    assert not missing, f"deploy/iam-policy.json lacks actions the code needs: {missing}"


def test_the_policy_allows_nothing_the_code_does_not_call():
    unused = set(granted(POLICY)) - set(called_actions())
    assert not unused, f"deploy/iam-policy.json grants actions no production code calls: {sorted(unused)}"


def test_object_actions_are_on_objects_and_bucket_actions_on_the_bucket():
    for action, resources in granted(POLICY).items():
        if action in OBJECT_ACTIONS:
            assert resources == {"arn:aws:s3:::${BUCKET}/*"}, action
        elif action.startswith("s3:"):
            assert resources == {"arn:aws:s3:::${BUCKET}"}, action


def test_queue_actions_cover_all_three_priority_queues():
    """The queues the code derives from QUEUE_URL (name, name-high, name-low), and only those."""
    settings = core.Settings.from_env({"STORAGE_URL": "s3://bucket", "QUEUE_URL": "sqs://thumbnails"})
    names = {core.Settings.from_env({"STORAGE_URL": "s3://bucket", "QUEUE_URL": settings.priority_queue_url(p)})
             .queue_name for p in ("high", "normal", "low")}
    assert len(names) == 3
    expected = {f"arn:aws:sqs:${{AWS_REGION}}:${{AWS_ACCOUNT_ID}}:{name.replace('thumbnails', '${QUEUE}')}"
                for name in names}
    for action, resources in granted(POLICY).items():
        if action.startswith("sqs:"):
            assert resources == expected, action


def test_the_placeholders_are_the_documented_ones():
    text = (ROOT / "deploy" / "iam-policy.json").read_text()
    names = set(re.findall(r"\$\{([^}]*)\}", text))
    assert names == {"BUCKET", "QUEUE", "AWS_REGION", "AWS_ACCOUNT_ID"}
    readme = (ROOT / "README.md").read_text()
    assert "deploy/iam-policy.json" in readme
    for name in ("BUCKET", "QUEUE", "AWS_REGION", "AWS_ACCOUNT_ID"):
        assert name in readme, f"README does not say what to put for ${{{name}}}"


def test_compose_minio_user_gets_the_same_s3_actions():
    """The least-privilege MinIO user that docker compose makes for the app."""
    s3 = {action for action in granted(POLICY) if action.startswith("s3:")}
    assert set(granted(MINIO_POLICY)) == s3


@pytest.mark.parametrize("source, expected", [
    ("self.client.put_object(Bucket=b)", [("put_object", "f", 2)]),
    ("self.client.get_paginator('list_objects_v2')", [("list_objects_v2", "f", 2)]),
    ("other.client.put_object()", []),
])
def test_the_scanner_reads_calls(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(f"def f(self):\n    {source}\n")
    assert client_calls(path) == expected
