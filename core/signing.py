"""Signed, expiring URLs: an output can be fetched without a key until its expiry.

The signature is HMAC-SHA256, keyed by the server's URL signing secret, over the URL's path and
its expiry (Unix seconds), in the manner of S3 pre-signed URLs and imgproxy signatures. The
method is not signed: GET and HEAD of one URL are the same read. It is sent as base64url without
padding; hex is accepted too, for clients that sign with other tools. Checked in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from urllib.parse import urlencode

EXPIRES = "expires"
SIGNATURE = "signature"
QUERY_NAMES = (EXPIRES, SIGNATURE)
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{43}=?")
_EXPIRES = re.compile(r"[0-9]{1,12}")


def _mac(secret: bytes, path: str, expires: int) -> bytes:
    return hmac.new(secret, f"{path}\n{expires}".encode(), hashlib.sha256).digest()


def sign(secret: bytes, path: str, expires: int) -> str:
    """The signature of path until expires (Unix seconds), base64url without padding."""
    return base64.urlsafe_b64encode(_mac(secret, path, expires)).decode().rstrip("=")


def signed_query(secret: bytes, path: str, expires: int) -> str:
    """The query string that makes path a signed URL: expires=...&signature=..."""
    return urlencode({EXPIRES: expires, SIGNATURE: sign(secret, path, expires)})


def public_cache_control(seconds: int) -> str:
    """What a signed answer may be cached as: by anyone, as long as the signature lasts, never
    revalidated before (an output never changes)."""
    return f"public, max-age={max(0, seconds)}, immutable"


def verify(secret: bytes, path: str, expires: str | None, signature: str | None, now: float) -> int | None:
    """The expiry of a valid, unexpired signature of path, else None (tampered, malformed,
    expired or signed with another secret alike: the caller answers them all the same way)."""
    if not expires or not signature or not _EXPIRES.fullmatch(expires):
        return None
    given = _decode(signature)
    if given is None:
        return None
    moment = int(expires)
    valid = hmac.compare_digest(_mac(secret, path, moment), given)
    return moment if valid and moment > now else None


def _decode(signature: str) -> bytes | None:
    try:
        if _HEX.fullmatch(signature):
            return bytes.fromhex(signature)
        if _BASE64URL.fullmatch(signature):
            return base64.urlsafe_b64decode(signature.rstrip("=") + "=")
    except (ValueError, binascii.Error):
        return None
    return None
