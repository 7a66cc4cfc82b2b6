"""The api's expiry rule is merged into the bucket's lifecycle configuration, on the real MinIO:
an operator's own rules survive every api start."""

import secrets

import pytest

from storage.aws import make_client
from storage.objects.s3 import S3ObjectStore
from tests.environment import RUN_ID

OPERATOR_RULE = {"ID": "operator-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                 "Expiration": {"Days": 30}}

pytestmark = pytest.mark.servers


class CountingClient:
    """The real boto3 client, with its PutBucketLifecycleConfiguration calls counted."""

    def __init__(self, client):
        self._client = client
        self.puts = 0

    def put_bucket_lifecycle_configuration(self, **kwargs):
        self.puts += 1
        return self._client.put_bucket_lifecycle_configuration(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def store(servers):
    """A bucket of this test's own (lifecycle rules are per bucket), removed afterwards."""
    store = S3ObjectStore(CountingClient(make_client("s3", "path")), f"{RUN_ID}-lc-{secrets.token_hex(2)}")
    store.ensure()
    yield store
    store.delete_bucket()


def rules_by_id(store):
    return {rule["ID"]: rule for rule in store.lifecycle_rules()}


def test_a_bucket_without_rules_gets_ours(store):
    store.expire_after("jobs/", 3)
    assert store.lifecycle_rules() == [{"ID": "expire-jobs", "Status": "Enabled", "Filter": {"Prefix": "jobs/"},
                                        "Expiration": {"Days": 3}}]


def test_an_operators_rule_is_kept(store):
    store.client.put_bucket_lifecycle_configuration(Bucket=store.bucket,
                                                    LifecycleConfiguration={"Rules": [OPERATOR_RULE]})
    store.expire_after("jobs/", 3)
    rules = rules_by_id(store)
    assert set(rules) == {"operator-logs", "expire-jobs"}
    assert rules["operator-logs"]["Filter"] == {"Prefix": "logs/"}
    assert rules["operator-logs"]["Expiration"] == {"Days": 30}


def test_our_rule_is_replaced_by_id_not_added_twice(store):
    store.client.put_bucket_lifecycle_configuration(Bucket=store.bucket,
                                                    LifecycleConfiguration={"Rules": [OPERATOR_RULE]})
    store.expire_after("jobs/", 3)
    store.expire_after("jobs/", 9)  # the retention setting changed between two api starts
    rules = rules_by_id(store)
    assert set(rules) == {"operator-logs", "expire-jobs"}
    assert rules["expire-jobs"]["Expiration"] == {"Days": 9}
    assert len(store.lifecycle_rules()) == 2


def test_nothing_is_written_when_our_rule_is_already_there(store):
    store.expire_after("jobs/", 3)
    writes = store.client.puts
    store.expire_after("jobs/", 3)  # every api start (and every gunicorn worker) does this
    assert store.client.puts == writes
