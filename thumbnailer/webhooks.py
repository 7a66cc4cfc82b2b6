"""Webhooks: POST a finished job's document to its callback_url, signed, retried, recorded.

Delivery runs on a few background threads, so a slow or failing receiver never holds a render
thread. It is fair between owners: each owner has at most one delivery in flight, and a free
thread takes the waiting delivery of the owner served least recently, so one owner's slow
receivers hold at most one thread at a time. Every attempt has a total deadline
(WEBHOOK_TIMEOUT_SECONDS for connect, send and answer together; a receiver trickling its
answer is cut off at it). Retries wait in a schedule, not in a sleeping thread. Each attempt
is recorded in the job document (`deliveries`); a webhook that keeps failing is given up after
WEBHOOK_ATTEMPTS; the job's own status is never changed by it. On shutdown, deliveries not yet
under way are abandoned (logged) and the threads are never waited on longer than one deadline.
"""

from __future__ import annotations

import dataclasses
import http.client
import itertools
import json
import logging
import socket
import threading
import time

import core
import storage
from core.backoff import backoff
from core.callbacks import check_callback_url, owner_signing_secret, signature
from core.errors import CallbackRefused
from core.logs import log_context
from thumbnailer.pinned import pinned_connection, request_target

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Thumbnails-Signature"
EVENT_HEADER = "X-Thumbnails-Event"
DELIVERY_THREADS = 2
MAX_BACKOFF_SECONDS = 300  # between two attempts of one webhook
MAX_RESPONSE_BYTES = 64 * 1024  # the most of a receiver's answer read (its body is ignored)
# Deliveries waiting in one thumbnailer process past which new ones are dropped (and logged).
MAX_WAITING_DELIVERIES = 10_000
# What a delivery record says when no HTTP answer came: one phrase for refused connections,
# resets, timeouts and TLS failures alike, so the records are no port-scanning oracle (the
# thumbnailer's own log has the detail).
NO_ANSWER = "no HTTP answer from the receiver"


def post(url: str, address: str, body: bytes, headers: dict, timeout: float) -> int:
    """POST to the checked address within `timeout` seconds in all; redirects are not followed
    (they could lead past the check). A timer shuts the socket at the deadline, so a receiver
    that answers a byte at a time cannot stretch the attempt."""
    connection = pinned_connection(url, address, timeout)
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        if connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, cut_off)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", request_target(url), body, headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout} s")
        return response.status
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout} s") from error
        raise
    finally:
        timer.cancel()
        connection.close()


@dataclasses.dataclass
class _Delivery:
    job_id: str
    owner: str
    event: str
    url: str
    body: bytes
    attempt: int = 0
    due: float = 0.0


class WebhookSender:
    """Delivers in the background; `send` returns at once."""

    def __init__(self, jobs: storage.JobStore, settings: core.Settings, threads: int = DELIVERY_THREADS):
        self.jobs = jobs
        self.master_secret = settings.webhook_secret
        self.timeout_seconds = settings.webhook_timeout_seconds
        self.attempts = settings.webhook_attempts
        self.backoff_seconds = settings.webhook_backoff_seconds
        self.allowed_networks = settings.webhook_allow_networks
        self.thread_count = threads
        self._changed = threading.Condition()
        self._waiting: list[_Delivery] = []
        self._busy_owners: set[str] = set()
        self._served = itertools.count(1)
        self._last_served: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def send(self, job: core.Job) -> None:
        """Queue the delivery of a job that just reached a terminal state (if it asked for one)."""
        if not job.callback_url:
            return
        body = json.dumps(dict(job.to_dict(), deliveries=[])).encode()
        delivery = _Delivery(job.id, job.owner, f"job.{job.status.value}", job.callback_url, body,
                             due=time.monotonic())
        with self._changed:
            if self._stopping:
                return
            if len(self._waiting) >= MAX_WAITING_DELIVERIES:
                log.warning("webhook dropped: too many waiting", extra={"job_id": job.id})
                return
            self._waiting.append(delivery)
            self._start_threads()
            self._changed.notify()

    def close(self, wait: bool = True) -> None:
        """Stop: deliveries not under way are abandoned; one under way ends within its deadline."""
        with self._changed:
            self._stopping = True
            abandoned, self._waiting = self._waiting, []
            self._changed.notify_all()
        for delivery in abandoned:
            log.warning("webhook abandoned at shutdown", extra={"job_id": delivery.job_id})
        if wait:
            deadline = time.monotonic() + self.timeout_seconds + 1
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))

    def idle(self) -> bool:
        """Nothing waiting and nothing under way (for tests and benchmarks)."""
        with self._changed:
            return not self._waiting and not self._busy_owners

    # -- the delivery threads ---------------------------------------------------

    def _start_threads(self) -> None:
        while len(self._threads) < self.thread_count:
            thread = threading.Thread(target=self._run, name=f"webhook-{len(self._threads) + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                with log_context(job_id=delivery.job_id, owner=delivery.owner):
                    self._deliver_once(delivery)
            except Exception:  # a bug here must not end the thread
                log.exception("webhook delivery failed unexpectedly", extra={"job_id": delivery.job_id})
            finally:
                with self._changed:
                    self._busy_owners.discard(delivery.owner)
                    self._changed.notify_all()

    def _next(self) -> _Delivery | None:
        """The due delivery of the owner served least recently among those with none in flight."""
        with self._changed:
            while not self._stopping:
                now = time.monotonic()
                ready = [item for item in self._waiting if item.owner not in self._busy_owners]
                due = [item for item in ready if item.due <= now]
                if due:
                    chosen = min(due, key=lambda item: (self._last_served.get(item.owner, 0), item.due))
                    self._waiting.remove(chosen)
                    self._busy_owners.add(chosen.owner)
                    self._last_served[chosen.owner] = next(self._served)
                    return chosen
                soonest = min((item.due for item in ready), default=None)
                self._changed.wait(None if soonest is None else max(0.0, soonest - now))
            return None

    def _deliver_once(self, delivery: _Delivery) -> None:
        status, error = self._attempt(delivery)
        self._record(delivery.job_id, status, error)
        final = (status is not None and status < 500 and status != 429) or (error or "").startswith("refused")
        delivery.attempt += 1
        if final:
            return
        if delivery.attempt >= self.attempts:
            log.warning("webhook given up", extra={"attempts": self.attempts})
            return
        delivery.due = time.monotonic() + backoff(delivery.attempt, self.backoff_seconds, MAX_BACKOFF_SECONDS)
        with self._changed:
            if not self._stopping:
                self._waiting.append(delivery)

    def _attempt(self, delivery: _Delivery) -> tuple[int | None, str | None]:
        try:
            address = check_callback_url(delivery.url, self.allowed_networks)  # again: DNS may have changed
        except CallbackRefused as error:
            return None, f"refused: the callback URL {error}"
        timestamp = int(time.time())
        secret = owner_signing_secret(self.master_secret, delivery.owner)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "thumbnails-webhook/2",
            EVENT_HEADER: delivery.event,
            SIGNATURE_HEADER: f"t={timestamp},v2={signature(secret, timestamp, delivery.event, delivery.body)}",
        }
        try:
            status = post(delivery.url, address, delivery.body, headers, self.timeout_seconds)
        except (OSError, http.client.HTTPException, ValueError) as error:
            log.info("webhook attempt failed", extra={"reason": f"{type(error).__name__}: {error}"[:300]})
            return None, NO_ANSWER
        return status, None if 200 <= status < 300 else f"receiver answered {status}"

    def _record(self, job_id: str, status: int | None, error: str | None) -> None:
        """Add the attempt to the job document; a concurrent change is re-read, not overwritten."""
        def add_attempt(job: core.Job) -> bool:
            job.record_delivery(status, error)
            return True

        try:
            self.jobs.update(job_id, add_attempt)
        except core.ThumbnailsError as record_error:  # Conflict after retries, or storage away
            log.warning("webhook attempt not recorded", extra={"reason": str(record_error)})
