"""Fetching a job's source_url (urllib3, which botocore already brings).

Every hop is checked against the callback-URL address policy (core.callbacks: http/https,
public addresses only unless SOURCE_ALLOW_NETWORKS lists them) and then connects to the very
address that was checked, so neither a redirect nor a second DNS answer can lead inside.
Redirects are followed by hand, at most MAX_REDIRECTS. The body is read no further than
MAX_UPLOAD_BYTES. The deadline, SOURCE_TIMEOUT_SECONDS for the whole fetch, redirects included,
is checked after every read, and no single wait (connect, or a read) is longer than its own
limit or than what was left of the deadline when the hop began: a fetch ends within the
deadline plus at most one read's wait.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import urllib3
import urllib3.exceptions

from core.callbacks import check_callback_url
from core.errors import CallbackRefused, SourceError, SourceTooLarge, SourceUnavailable

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0  # the longest silence between two reads (never past the total)
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
USER_AGENT = "thumbnails-fetch/1"
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}


class Fetcher:
    def __init__(self, max_bytes: int, timeout_seconds: float, allowed_networks: tuple[str, ...] = ()):
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.allowed_networks = allowed_networks

    def fetch(self, url: str) -> bytes:
        """The body of a 2xx answer; SourceError (permanent), SourceTooLarge or
        SourceUnavailable (worth another try later) otherwise."""
        deadline = time.monotonic() + self.timeout_seconds
        for hop in range(MAX_REDIRECTS + 1):
            what = "the source URL" if hop == 0 else f"redirect {hop} ({url[:200]})"
            try:
                address = check_callback_url(url, self.allowed_networks)  # again at every hop: DNS may change
            except CallbackRefused as error:
                raise SourceError(f"{what} {error}") from None
            with self._pool(url, address, deadline) as pool:  # one connection, closed after the hop
                response = self._get(pool, url)
                try:
                    if response.status in REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            raise SourceError(f"{what} answered {response.status} without a Location")
                        url = urljoin(url, location).partition("#")[0]
                        continue
                    if 200 <= response.status < 300:
                        return self._read(response, deadline)
                    message = f"{what} answered {response.status} {_phrase(response.status)}".rstrip()
                    if response.status == HTTPStatus.TOO_MANY_REQUESTS or response.status >= 500:
                        raise SourceUnavailable(message)
                    raise SourceError(message)
                finally:
                    response.close()
        raise SourceError(f"more than {MAX_REDIRECTS} redirects")

    def _pool(self, url: str, address: str, deadline: float) -> urllib3.HTTPConnectionPool:
        """A pool of one connection to the checked address."""
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        remaining = self._remaining(deadline)
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_SECONDS, remaining),
                                  read=min(READ_TIMEOUT_SECONDS, remaining))
        pool: urllib3.HTTPConnectionPool
        if parts.scheme == "https":  # TLS checks the name (SNI and certificate), not the address
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1,
                                               server_hostname=parts.hostname, assert_hostname=parts.hostname)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
        return pool

    def _get(self, pool: urllib3.HTTPConnectionPool, url: str) -> urllib3.BaseHTTPResponse:
        parts = urlsplit(url)
        headers = {"Host": parts.netloc, "User-Agent": USER_AGENT, "Accept": "image/*",
                   "Accept-Encoding": "identity"}
        try:
            return pool.urlopen("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                                headers=headers, redirect=False, retries=False, preload_content=False,
                                decode_content=False, assert_same_host=False)
        except urllib3.exceptions.SSLError as error:
            raise SourceError(f"TLS with {parts.hostname} failed: {_first_line(error)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise SourceUnavailable(f"no answer from {parts.hostname}: {_first_line(error)}") from None

    def _read(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise SourceTooLarge(f"the source is {declared} bytes; the limit is {self.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.read1(CHUNK_BYTES):
                self._remaining(deadline)  # a body trickled in small pieces is cut off too
                size += len(chunk)
                if size > self.max_bytes:
                    raise SourceTooLarge(f"the source is larger than the limit of {self.max_bytes} bytes")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            self._remaining(deadline)  # past the deadline: say so
            raise SourceUnavailable(f"the answer stopped before its end: {_first_line(error)}") from None
        return b"".join(chunks)

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceUnavailable(f"no complete answer within {self.timeout_seconds:g} s")
        return remaining


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
