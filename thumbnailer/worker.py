"""The thumbnailer's loop: receive, process, acknowledge."""

from __future__ import annotations

import logging
import signal
import threading
import time
from http import HTTPStatus

import storage
from storage.job import parse_job_id
from storage.logs import log_context
from storage.queues.base import MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS
from thumbnailer import metrics
from thumbnailer.errors import RenderError
from thumbnailer.heartbeat import Heartbeat
from thumbnailer.render import ThumbnailSpec, render

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30
# While storage may not show a fresh write yet, look again this soon rather than after the
# whole visibility timeout.
RETRY_SOON_SECONDS = 2
# A job changed by another thumbnailer is read again and decided afresh, this many times at most.
MAX_CONFLICT_RETRIES = 3
# While storage is unreachable a message is kept and retried in place this many times (about
# 2.5 minutes of back-off) before it is let go to come back later, using up one delivery.
MAX_IN_PLACE_RETRIES = 8


class _StopNow(BaseException):
    """Raised by the signal handler to break out of an idle long poll (a BaseException, like
    KeyboardInterrupt, so that no library on the way catches it)."""


class Worker:
    """Turns queued job ids into thumbnails. At-least-once: every step may be repeated safely."""

    def __init__(self, backends: storage.Backends, settings: storage.Settings):
        self.jobs = backends.jobs
        self.queue = backends.queue
        self.max_receives = settings.max_receives
        self.grace_seconds = settings.storage_grace_seconds
        self.visibility_timeout_seconds = settings.visibility_timeout_seconds
        self.spec = ThumbnailSpec(max_pixels=settings.max_image_pixels)
        self._stop_requested = False
        self._stopping = threading.Event()  # wakes a back-off sleep when a stop is requested
        self._busy = False

    # -- the loop --------------------------------------------------------------

    def work(self, burst: bool = False) -> None:
        """Process messages until asked to stop; with burst, until the queue is empty."""
        restore = self._install_signal_handlers()
        failures = 0
        log.info("thumbnailer started")
        try:
            while not self._stop_requested:
                try:
                    messages = self._receive(MAX_MESSAGES_PER_RECEIVE, 1 if burst else MAX_WAIT_TIME_SECONDS)
                except storage.TransientError as error:
                    failures += 1
                    self._back_off(failures, error)
                    continue
                failures = 0
                if not messages and burst:
                    break
                for message in messages:
                    if self._stop_requested:
                        self._hand_back(message)
                    else:
                        self._process_guarded(message)
        except _StopNow:
            pass
        finally:
            restore()
            log.info("thumbnailer stopped")

    def _receive(self, max_messages: int, wait_seconds: int) -> list[storage.Message]:
        """A queue that vanished (an in-memory ElasticMQ restarted) is made again, not a crash."""
        try:
            return self.queue.receive(max_messages, wait_seconds)
        except storage.NotFound as error:
            log.warning("the queue is gone; creating it again", extra={"reason": str(error)})
            self.queue.ensure()
            return []

    def request_stop(self, signum=None, frame=None) -> None:
        """First signal: finish the job in hand, then stop. Second signal: stop at once."""
        if self._stop_requested:
            raise SystemExit(128 + (signum or 0))
        log.info("stop requested; finishing the job in hand")
        self._stop_requested = True
        self._stopping.set()
        if not self._busy:
            raise _StopNow()

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]

    def _back_off(self, failures: int, error: Exception) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 2 ** min(failures, 5))
        log.warning("dependency unavailable (%s); retrying in %d s", error, delay)
        self._stopping.wait(delay)

    def _hand_back(self, message: storage.Message) -> None:
        try:
            self.queue.change_visibility(message.receipt, 0)
        except storage.ThumbnailsError as error:
            log.warning("could not hand back a message (it returns after its timeout): %s", error)

    def _process_guarded(self, message: storage.Message) -> None:
        """A failure here never ends the loop. While storage is away the message is kept, hidden
        by the heartbeat, and retried with back-off: a short outage does not use up its receives."""
        self._busy = True
        try:
            with Heartbeat(self.queue, message.receipt, self.visibility_timeout_seconds):
                self._process_retrying(message)
        except Exception:  # a bug or an exotic decoder failure must not take the worker down
            log.exception("unexpected error; the message will be retried",
                          extra={"body": message.body[:64], "outcome": "retry"})
        finally:
            self._busy = False

    def _process_retrying(self, message: storage.Message) -> None:
        """Every step of process() may be repeated safely, so retrying the whole of it is right."""
        failures = conflicts = 0
        while True:
            try:
                self.process(message)
                return
            except storage.Conflict as error:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    log.warning("message %r keeps conflicting; it will come back: %s", message.body[:64], error)
                    return
                log.info("job changed by another thumbnailer; reading it again (%s)", error)
            except storage.TransientError as error:
                failures += 1
                if self._stop_requested or failures > MAX_IN_PLACE_RETRIES:
                    log.warning("message %r left for later: %s", message.body[:64], error)
                    return
                self._back_off(failures, error)

    # -- one message -----------------------------------------------------------

    def process(self, message: storage.Message) -> None:
        try:
            job_id = parse_job_id(message.body)
        except storage.InvalidJob:
            log.error("dropping malformed message", extra={"body": message.body[:64], "outcome": "dropped"})
            self.queue.delete([message.receipt])
            return
        with log_context(job_id=job_id):
            self._process_job(job_id, message)

    def _process_job(self, job_id: str, message: storage.Message) -> None:
        try:
            job = self.jobs.load(job_id)
        except storage.NotFound:
            self._retry_or_drop(message, "job document not found", message.sent_at)
            return
        except storage.InvalidJob as error:
            log.error("dropping job with a corrupt document", extra={"reason": str(error), "outcome": "dropped"})
            self.queue.delete([message.receipt])
            return

        with log_context(owner=job.owner):
            if job.status.is_terminal:
                if job.status is storage.JobStatus.CANCELLED:
                    # Cancelled, perhaps while we rendered: anything written for it goes.
                    self.jobs.delete_data(job.id)
                log.info("job already finished; dropping the message", extra={"status": job.status.value})
                self.queue.delete([message.receipt])
                return
            if message.receive_count > self.max_receives:
                self._finish_failed(job, message, HTTPStatus.INTERNAL_SERVER_ERROR,
                                    f"gave up after {self.max_receives} attempts")
                return
            self._render_job(job, message)

    def _render_job(self, job: storage.Job, message: storage.Message) -> None:
        job.start_processing()
        self.jobs.save(job)
        try:
            source = self.jobs.load_input(job.id)
        except storage.NotFound:
            if self._within_grace(job.start.timestamp()):
                self._retry_soon(message, "input not visible yet")
            else:
                self._finish_failed(job, message, HTTPStatus.NOT_FOUND, "the uploaded image was not found")
            return

        started = time.perf_counter()
        try:
            thumbnail = render(source.data, self.spec)
        except RenderError as error:
            self._finish_failed(job, message, error.code, str(error))
            return
        render_seconds = time.perf_counter() - started
        metrics.RENDER_SECONDS.observe(render_seconds)

        self.jobs.save_thumbnail(job.id, thumbnail.data, thumbnail.content_type)
        job.complete()
        self.jobs.save(job)  # a Conflict here (cancelled meanwhile, say) re-reads and decides again
        self.queue.delete([message.receipt])
        self._record(job, "complete", render_ms=round(render_seconds * 1000, 1),
                     size=f"{thumbnail.width}x{thumbnail.height}", content_type=thumbnail.content_type)

    def _within_grace(self, since: float | None) -> bool:
        return since is not None and time.time() - since < self.grace_seconds

    def _retry_soon(self, message: storage.Message, reason: str) -> None:
        log.warning(f"{reason}; will retry", extra={"receive_count": message.receive_count, "outcome": "retry"})
        self.queue.change_visibility(message.receipt, RETRY_SOON_SECONDS)

    def _record(self, job: storage.Job, outcome: str, **fields) -> None:
        metrics.JOBS_FINISHED.labels(outcome=outcome, code=str(job.code)).inc()
        if job.finish is not None:
            metrics.JOB_SECONDS.observe((job.finish - job.start).total_seconds())
        log.info(f"job {outcome}", extra={"outcome": outcome, "code": job.code, **fields})

    def _retry_or_drop(self, message: storage.Message, reason: str, since: float | None) -> None:
        """Storage may not show a fresh write yet: retry within the grace period, and until
        max_receives when the queue cannot say when the message was sent."""
        if self._within_grace(since) or (since is None and message.receive_count < self.max_receives):
            self._retry_soon(message, reason)
            return
        log.error(f"{reason}; dropping the message", extra={"receive_count": message.receive_count,
                                                          "outcome": "dropped"})
        self.queue.delete([message.receipt])

    def _finish_failed(self, job: storage.Job, message: storage.Message, code: int, reason: str) -> None:
        job.fail(code, reason)
        self.jobs.save(job)
        self.queue.delete([message.receipt])
        self._record(job, "failed", reason=reason)
