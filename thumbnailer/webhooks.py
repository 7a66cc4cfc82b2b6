"""Webhooks: POST a finished job's document to its callback_url, signed, retried, recorded.

Delivery runs on a small background pool, so a slow or failing receiver never holds a render
thread; each attempt is recorded in the job document (`deliveries`). A webhook that keeps
failing is given up after WEBHOOK_ATTEMPTS; the job's own status is never changed by it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import storage
from storage.errors import ThumbnailsError

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Thumbnails-Signature"
EVENT_HEADER = "X-Thumbnails-Event"
MAX_URL_LENGTH = 2048
MAX_RECORD_CONFLICTS = 5
DELIVERY_THREADS = 2
# Cloud metadata services that are not caught by the link-local/private checks (AWS's IPv6 one).
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


class CallbackRefused(ThumbnailsError):
    """The callback URL is malformed or points at an address the service must not reach."""


def check_callback_url(url: str, allowed_networks: tuple[str, ...] = ()) -> None:
    """Refuse URLs that are not http(s) or whose host resolves to loopback, private, link-local,
    metadata or otherwise special addresses, unless an allowed network contains the address."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"must be an http or https URL of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("must be an http or https URL with a host")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise CallbackRefused(f"host {parts.hostname!r} does not resolve: {error}") from None
    networks = [ipaddress.ip_network(network, strict=False) for network in allowed_networks]
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if any(address in network for network in networks):
            continue
        if _is_internal(address):
            raise CallbackRefused(f"host {parts.hostname!r} resolves to {address}, an internal address")


def _is_internal(address) -> bool:
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or any(address in net for net in _METADATA))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp + "." + body`, hex: what a receiver recomputes."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead past the address check: treat it as the receiver's answer."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class WebhookSender:
    """Delivers in the background; `send` returns at once."""

    def __init__(self, jobs: storage.JobStore, settings: storage.Settings):
        self.jobs = jobs
        self.secret = settings.webhook_secret
        self.timeout_seconds = settings.webhook_timeout_seconds
        self.attempts = settings.webhook_attempts
        self.backoff_seconds = settings.webhook_backoff_seconds
        self.allowed_networks = settings.webhook_allow_networks
        self._pool = ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="webhook")
        self._stopping = threading.Event()

    def send(self, job: storage.Job) -> None:
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
                if self._stopping.wait(self.backoff_seconds * 2 ** (attempt - 1)):
                    return
            status, error = self._attempt(url, event, body)
            self._record(job_id, status, error)
            if status is not None and (200 <= status < 300 or (400 <= status < 500 and status != 429)):
                return  # delivered, or the receiver refuses it for good
            if error and error.startswith("refused"):
                return
        log.warning("webhook given up", extra={"job_id": job_id, "attempts": self.attempts})

    def _attempt(self, url: str, event: str, body: bytes) -> tuple[int | None, str | None]:
        try:
            check_callback_url(url, self.allowed_networks)  # again: DNS may have changed since submit
        except CallbackRefused as error:
            return None, f"refused: {error}"
        timestamp = int(time.time())
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "User-Agent": "thumbnails-webhook/1",
            EVENT_HEADER: f"job.{event}",
            SIGNATURE_HEADER: f"t={timestamp},v1={signature(self.secret, timestamp, body)}",
        })
        try:
            with _opener.open(request, timeout=self.timeout_seconds) as response:
                return response.status, None
        except urllib.error.HTTPError as error:
            return error.code, f"receiver answered {error.code}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            return None, f"{type(error).__name__}: {error}"

    def _record(self, job_id: str, status: int | None, error: str | None) -> None:
        """Add the attempt to the job document; a concurrent change is re-read, not overwritten."""
        for _ in range(MAX_RECORD_CONFLICTS):
            try:
                job = self.jobs.load(job_id)
                job.record_delivery(status, error)
                self.jobs.save(job)
                return
            except storage.Conflict:
                continue
            except storage.ThumbnailsError as record_error:
                log.warning("webhook attempt not recorded", extra={"job_id": job_id, "reason": str(record_error)})
                return
