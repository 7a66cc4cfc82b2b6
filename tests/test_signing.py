"""core/signing.py: signed, expiring URLs (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs

import pytest

from core import signing

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
