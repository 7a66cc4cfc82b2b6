"""Fetching a job's source_url.

Every hop is checked against the callback-URL address policy (core.callbacks: http/https,
public addresses only unless SOURCE_ALLOW_NETWORKS lists them) and then connects to the very
address that was checked (thumbnailer.pinned, as webhooks do), so neither a redirect nor a
second DNS answer can lead inside.
Redirects are followed by hand, at most MAX_REDIRECTS. The body is read no further than
MAX_UPLOAD_BYTES. The deadline, SOURCE_TIMEOUT_SECONDS for the whole fetch, redirects included,
is checked after every read, and no single wait (connect, or a read) is longer than its own
limit or than what was left of the deadline when the hop began: a fetch ends within the
deadline plus at most one read's wait.
"""

from __future__ import annotations

import http.client
import ssl
import time
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

from core.callbacks import check_callback_url
from core.errors import CallbackRefused, SourceError, SourceTooLarge, SourceUnavailable
from thumbnailer.pinned import pinned_connection, request_target

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0  # the longest silence between two reads (never past the total)
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
USER_AGENT = "thumbnails-fetch/1"
REDIRECTS = (301, 302, 303, 307, 308)


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
            connection = pinned_connection(url, address, min(CONNECT_TIMEOUT_SECONDS, self._remaining(deadline)))
            try:  # one connection, closed after the hop
                response = self._get(connection, url, deadline)
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
                connection.close()
        raise SourceError(f"more than {MAX_REDIRECTS} redirects")

    def _get(self, connection: http.client.HTTPConnection, url: str, deadline: float) -> http.client.HTTPResponse:
        hostname = urlsplit(url).hostname
        headers = {"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"}
        try:
            connection.connect()
            if connection.sock is not None:  # from here on, the wait for each read
                connection.sock.settimeout(min(READ_TIMEOUT_SECONDS, self._remaining(deadline)))
            connection.request("GET", request_target(url), headers=headers)
            return connection.getresponse()
        except ssl.SSLError as error:
            raise SourceError(f"TLS with {hostname} failed: {_first_line(error)}") from None
        except (http.client.HTTPException, OSError) as error:
            raise SourceUnavailable(f"no answer from {hostname}: {_first_line(error)}") from None

    def _read(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
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
        except (http.client.HTTPException, OSError) as error:
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
