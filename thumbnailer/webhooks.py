"""Webhooks: POST a finished job's document to its callback_url, signed, retried, recorded.

Delivery runs on a small background pool, so a slow or failing receiver never holds a render
thread; each attempt is recorded in the job document (`deliveries`). A webhook that keeps
failing is given up after WEBHOOK_ATTEMPTS; the job's own status is never changed by it.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import core
import storage
from core.backoff import backoff
from core.callbacks import check_callback_url, signature
from core.errors import CallbackRefused

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Thumbnails-Signature"
EVENT_HEADER = "X-Thumbnails-Event"
DELIVERY_THREADS = 2
MAX_BACKOFF_SECONDS = 300  # between two attempts of one webhook
MAX_RESPONSE_BYTES = 64 * 1024  # the most of a receiver's answer read (its body is ignored)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS answers now; Host stays the name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the host name (SNI and certificate)."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def post(url: str, address: str, body: bytes, headers: dict, timeout: float) -> int:
    """POST to the checked address; redirects are not followed (they could lead past the check)."""
    parts = urlsplit(url)
    pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = pinned(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), address, timeout)
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    finally:
        connection.close()


class WebhookSender:
    """Delivers in the background; `send` returns at once."""

    def __init__(self, jobs: storage.JobStore, settings: core.Settings):
        self.jobs = jobs
        self.secret = settings.webhook_secret
        self.timeout_seconds = settings.webhook_timeout_seconds
        self.attempts = settings.webhook_attempts
        self.backoff_seconds = settings.webhook_backoff_seconds
        self.allowed_networks = settings.webhook_allow_networks
        self._pool = ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="webhook")
        self._stopping = threading.Event()

    def send(self, job: core.Job) -> None:
        """Queue the delivery of a job that just reached a terminal state (if it asked for one)."""
        if job.callback_url:
            body = json.dumps(dict(job.to_dict(), deliveries=[])).encode()
            self._pool.submit(self._deliver, job.id, job.status.value, job.callback_url, body)

    def close(self, wait: bool = True) -> None:
        """Stop retrying (attempts in flight finish, bounded by the timeout)."""
        self._stopping.set()
        self._pool.shutdown(wait=wait)

    def _deliver(self, job_id: str, event: str, url: str, body: bytes) -> None:
        for attempt in range(self.attempts):
            if attempt:
                if self._stopping.wait(backoff(attempt, self.backoff_seconds, MAX_BACKOFF_SECONDS)):
                    return
            status, error = self._attempt(url, event, body)
            self._record(job_id, status, error)
            if status is not None and status < 500 and status != 429:
                return  # delivered, or final: a redirect (not followed) or the receiver refusing it
            if error and error.startswith("refused"):
                return
        log.warning("webhook given up", extra={"job_id": job_id, "attempts": self.attempts})

    def _attempt(self, url: str, event: str, body: bytes) -> tuple[int | None, str | None]:
        try:
            address = check_callback_url(url, self.allowed_networks)  # again: DNS may have changed
        except CallbackRefused as error:
            return None, f"refused: {error}"
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "thumbnails-webhook/1",
            EVENT_HEADER: f"job.{event}",
            SIGNATURE_HEADER: f"t={timestamp},v1={signature(self.secret, timestamp, body)}",
        }
        try:
            status = post(url, address, body, headers, self.timeout_seconds)
        except (OSError, http.client.HTTPException, ValueError) as error:
            return None, f"{type(error).__name__}: {error}"
        return status, None if 200 <= status < 300 else f"receiver answered {status}"

    def _record(self, job_id: str, status: int | None, error: str | None) -> None:
        """Add the attempt to the job document; a concurrent change is re-read, not overwritten."""
        def add_attempt(job: core.Job) -> bool:
            job.record_delivery(status, error)
            return True

        try:
            self.jobs.update(job_id, add_attempt)
        except core.ThumbnailsError as record_error:  # Conflict after retries, or storage away
            log.warning("webhook attempt not recorded", extra={"job_id": job_id, "reason": str(record_error)})
