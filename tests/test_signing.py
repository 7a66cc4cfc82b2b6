"""core/signing.py: signed, expiring URLs (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs

import pytest

from core import signing
from core.errors import ConfigurationError, InvalidJob
from core.job import Job
from core.settings import Settings

SECRET = b"a-secret-of-the-server-0123456789abcdef"
PATH = "/jobs/0b6c5e0e-4e0c-4d3a-9a43-3f1f2f6f9c11/outputs/0"
NOW = 1_800_000_000
EXPIRES = NOW + 3600


def test_a_signature_verifies_until_its_expiry():
    signature = signing.sign(SECRET, PATH, EXPIRES)
    assert signing.verify(SECRET, PATH, str(EXPIRES), signature, NOW) == EXPIRES
    assert signing.verify(SECRET, PATH, str(EXPIRES), signature, EXPIRES - 0.5) == EXPIRES
    assert signing.verify(SECRET, PATH, str(EXPIRES), signature, EXPIRES) is None
    assert signing.verify(SECRET, PATH, str(EXPIRES), signature, EXPIRES + 10) is None


def test_it_is_hmac_sha256_of_the_path_and_expiry():
    """Documented in the README, so clients may sign with their own tools: hex works too."""
    digest = hmac.new(SECRET, f"{PATH}\n{EXPIRES}".encode(), hashlib.sha256).digest()
    assert signing.sign(SECRET, PATH, EXPIRES) == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert signing.verify(SECRET, PATH, str(EXPIRES), digest.hex(), NOW) == EXPIRES
    assert signing.verify(SECRET, PATH, str(EXPIRES), digest.hex().upper(), NOW) == EXPIRES
    padded = base64.urlsafe_b64encode(digest).decode()
    assert signing.verify(SECRET, PATH, str(EXPIRES), padded, NOW) == EXPIRES


def test_the_query_carries_both_fields():
    query = parse_qs(signing.signed_query(SECRET, PATH, EXPIRES))
    assert query == {"expires": [str(EXPIRES)], "signature": [signing.sign(SECRET, PATH, EXPIRES)]}


@pytest.mark.parametrize("path, expires", [
    (PATH.replace("outputs/0", "outputs/1"), EXPIRES),  # another output
    (PATH.replace("0b6c", "0b6d"), EXPIRES),  # another job
    (PATH.replace("/outputs/0", "/thumbnail"), EXPIRES),  # another route to the same bytes
    (PATH, EXPIRES + 1),  # a later expiry
    (PATH, EXPIRES - 1),
])
def test_a_tampered_path_or_expiry_is_refused(path, expires):
    signature = signing.sign(SECRET, PATH, EXPIRES)
    assert signing.verify(SECRET, path, str(expires), signature, NOW) is None


def test_another_secret_is_refused():
    signature = signing.sign(b"another-secret-entirely-0123456789abcdef", PATH, EXPIRES)
    assert signing.verify(SECRET, PATH, str(EXPIRES), signature, NOW) is None


def test_a_changed_signature_is_refused():
    signature = signing.sign(SECRET, PATH, EXPIRES)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert signing.verify(SECRET, PATH, str(EXPIRES), flipped, NOW) is None


@pytest.mark.parametrize("expires, signature", [
    (None, "x" * 43), (str(EXPIRES), None), ("", ""), ("-1", "x" * 43), ("1e12", "x" * 43),
    (" " + str(EXPIRES), "GOOD"), (str(EXPIRES), "not base64!" * 4), (str(EXPIRES), "ab" * 31),
    (str(EXPIRES), "a" * 44), ("9" * 400, "GOOD"), (str(EXPIRES), "GOOD" + "A"),
])
def test_malformed_fields_are_refused_not_raised(expires, signature):
    if signature and signature.startswith("GOOD"):
        signature = signing.sign(SECRET, PATH, EXPIRES) + signature[4:]
    assert signing.verify(SECRET, PATH, expires, signature, NOW) is None


@pytest.mark.parametrize("environ, words", [
    ({"SIGNED_URLS": "cdn"}, "SIGNED_URLS must be one of api, s3"),
    ({"SIGNED_URLS": "s3"}, "SIGNED_URLS=s3 needs STORAGE_URL=s3://bucket"),
    ({"URL_SIGNING_SECRET": "short"}, "URL_SIGNING_SECRET must be at least 32 characters"),
    ({"SIGNED_URL_TTL_SECONDS": "0"}, "SIGNED_URL_TTL_SECONDS must be positive"),
])
def test_settings_refuse_bad_values_naming_them(tmp_path, environ, words):
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        Settings.from_env({"DATA_DIR": str(tmp_path), **environ})


def test_settings_defaults_and_values(tmp_path):
    assert (Settings.from_env({"DATA_DIR": str(tmp_path)}).signed_urls,
            Settings.from_env({"DATA_DIR": str(tmp_path)}).signed_url_ttl_seconds) == ("api", 7 * 24 * 3600)
    chosen = Settings.from_env({"DATA_DIR": str(tmp_path), "URL_SIGNING_SECRET": "k" * 32,
                                "SIGNED_URL_TTL_SECONDS": "3600", "SIGNED_URLS": "s3",
                                "STORAGE_URL": "s3://bucket", "QUEUE_URL": "sqs://queue"})
    assert (chosen.url_signing_secret, chosen.signed_url_ttl_seconds, chosen.signed_urls) == ("k" * 32, 3600, "s3")


def test_a_job_s_urls_expire_from_its_finish_capped_by_retention():
    job = Job()
    assert job.urls_expire(600, 3600) is None  # not complete
    job.start_processing()
    job.complete()
    finish = int(job.finish.timestamp())
    assert job.urls_expire(600, 3600) == finish + 600
    assert job.urls_expire(7200, 3600) == finish + 3600
    job.url_ttl_seconds = 60
    assert job.urls_expire(600, 3600) == finish + 60
    assert Job.from_json(job.to_json()).url_ttl_seconds == 60


@pytest.mark.parametrize("value", [0, -1, True, "60", 1.5])
def test_a_job_refuses_a_bad_url_ttl(value):
    with pytest.raises(InvalidJob):
        Job(url_ttl_seconds=value)


def test_a_job_stores_url_ttl_seconds_only_when_asked_for():
    """A thumbnailer of the previous version refuses unknown fields: default jobs stay readable."""
    assert "url_ttl_seconds" not in Job().to_dict()
    assert Job(url_ttl_seconds=60).to_dict()["url_ttl_seconds"] == 60
