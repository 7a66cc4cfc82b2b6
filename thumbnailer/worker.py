"""The thumbnailer's loop: receive, process, acknowledge.

One process renders one image at a time (run one process per core, see processes.supervisor);
a few threads per process hold the next jobs, so reading inputs and writing thumbnails
overlaps with the render in hand.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from http import HTTPStatus

import core
import storage
from core.backoff import backoff
from core.errors import RenderError, SourceError, SourceUnavailable, UnsupportedImage
from core.job import parse_job_id, read_job_hint
from core.logs import log_context
from core.render import render
from storage.queues.base import MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS
from storage.sources import source_objects
from thumbnailer import metrics
from thumbnailer.acks import MAX_ACK_DELAY_SECONDS, Acknowledger
from thumbnailer.fetch import Fetcher
from thumbnailer.heartbeat import Heartbeat
from thumbnailer.reconciler import Reconciler
from thumbnailer.webhooks import WebhookSender

log = logging.getLogger(__name__)
# Back-off while a dependency is away: short and jittered, so a thumbnailer resumes within a
# couple of seconds of the dependency answering again, and many thumbnailers do not call in step.
BACKOFF_BASE_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
# While jobs are in hand, poll briefly: a stop request or a finished pipeline is noticed soon.
BUSY_POLL_SECONDS = 1
# While storage may not show a fresh write yet, look again this soon rather than after the
# whole visibility timeout.
RETRY_SOON_SECONDS = 2
# A source_url or source that did not answer is tried again after back-off from this, at most
# this long later (each try is one of the message's MAX_RECEIVES deliveries).
SOURCE_RETRY_BASE_SECONDS = 2
MAX_SOURCE_RETRY_SECONDS = 60
# A job changed by another thumbnailer is read again and decided afresh, this many times at most.
MAX_CONFLICT_RETRIES = 3
# While storage is unreachable a message is kept and retried in place for this long before it
# is let go to come back later, using up one delivery.
IN_PLACE_RETRY_SECONDS = 150
# A store without lifecycle rules (the local folder) is swept of expired data this often.
SWEEP_INTERVAL_SECONDS = 3600
# A first delivery is worked from the job document sent with it (Message.hint), neither read
# back nor marked `processing`, if the message is younger than this part of
# RECONCILE_AFTER_SECONDS: its document then stays well inside that bound until it is written
# `complete` (README, Delivery guarantees), so the reconciler never sends a live job again.
HINT_TRUSTED_PART_OF_RECONCILE_AFTER = 3


class _StopNow(BaseException):
    """Raised by the signal handler to break out of an idle long poll (a BaseException, like
    KeyboardInterrupt, so that no library on the way catches it)."""


class _RetrySoon(Exception):
    """Hand the message back to come again in `seconds`, once its heartbeat has stopped."""

    def __init__(self, seconds: int):
        super().__init__(seconds)
        self.seconds = seconds


def _job_fields(message: storage.Message) -> dict:
    """The job_id for every log line about a message, when its body is one."""
    try:
        return {"job_id": parse_job_id(message.body)}
    except core.InvalidJob:
        return {"body": message.body[:64]}


class Worker:
    """Turns queued job ids into thumbnails. At-least-once: every step may be repeated safely."""

    def __init__(self, backends: storage.Backends, settings: core.Settings, clock=time.monotonic):
        self.clock = clock  # a test stands in a host that booted a minute ago, or time passing
        self.jobs = backends.jobs
        self.waiting = backends.waiting
        self.queue = backends.inbox  # every priority, high first (storage.queues.priority)
        self.acks = Acknowledger(self.queue)
        self.webhooks = WebhookSender(backends.jobs, settings)
        self.reconciler = Reconciler(backends, settings, on_failed=self.webhooks.send)
        self.max_receives = settings.max_receives
        self.grace_seconds = settings.storage_grace_seconds
        self.retention_seconds = settings.retention_seconds
        self.visibility_timeout_seconds = settings.visibility_timeout_seconds
        self.hint_max_age_seconds = settings.reconcile_after_seconds / HINT_TRUSTED_PART_OF_RECONCILE_AFTER
        self.max_image_pixels = settings.max_image_pixels
        self.max_animation_frames = settings.max_animation_frames
        self.threads = settings.thumbnailer_threads
        self.max_upload_bytes = settings.max_upload_bytes
        self.fetcher = Fetcher(settings.max_upload_bytes, settings.source_timeout_seconds,
                               settings.source_allow_networks)
        self.source_objects = source_objects(backends.objects, settings.source_buckets)
        self._render_lock = threading.Lock()  # one render at a time: the process's core
        self._in_flight: set[Future] = set()
        self._stop_requested = False
        self._stopping = threading.Event()  # wakes a back-off sleep when a stop is requested
        self._last_sweep: float | None = None  # monotonic time counts from boot: None = never swept

    # -- the loop --------------------------------------------------------------

    def work(self, burst: bool = False) -> None:
        """Process messages until asked to stop; with burst, until the queue is empty (then it
        returns at once: a burst takes what is queued and waits for nothing more)."""
        restore = self._install_signal_handlers()
        log.info("thumbnailer started")
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="job") as pool, self.acks.batching():
                try:
                    self._loop(pool, burst)
                except _StopNow:
                    pass
                except SystemExit:  # a second signal: drop the jobs not started yet
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                finally:
                    wait(list(self._in_flight))  # the jobs in hand finish
        finally:
            if self._stop_requested:
                self.webhooks.close()  # attempts in flight finish; pending retries are abandoned
            restore()
            log.info("thumbnailer stopped")

    def _loop(self, pool: ThreadPoolExecutor, burst: bool) -> None:
        failures = 0
        while not self._stop_requested:
            self.acks.flush_if_due()
            # Receive only what free threads can start now: a message received but left
            # waiting would sit out its visibility timeout without a heartbeat.
            free = self.threads - len(self._in_flight)
            if free <= 0:
                wait(list(self._in_flight), timeout=MAX_ACK_DELAY_SECONDS, return_when=FIRST_COMPLETED)
                continue
            busy = bool(self._in_flight)
            if burst:  # take what is there; while jobs run, wait for them rather than for the queue
                wait_seconds = 0 if busy else self.queue.empty_check_seconds
            else:
                wait_seconds = BUSY_POLL_SECONDS if busy else MAX_WAIT_TIME_SECONDS
            try:
                messages = self._receive(min(free, MAX_MESSAGES_PER_RECEIVE), wait_seconds)
            except core.PermissionDenied:
                raise  # not an outage to wait out: the thumbnailer stops, naming the action
            except core.TransientError as error:
                failures += 1
                self._back_off(failures, error)
                continue
            failures = 0
            if not messages and not busy:
                if burst:
                    break
                self._sweep_if_due()
                self.reconciler.sweep_if_due()
            elif not messages and burst:
                wait(list(self._in_flight), timeout=MAX_ACK_DELAY_SECONDS, return_when=FIRST_COMPLETED)
            for message in messages:
                if self._stop_requested:
                    self._hand_back(message)
                else:
                    self._start(pool, message)

    def _receive(self, max_messages: int, wait_seconds: int) -> list[storage.Message]:
        """A queue that vanished (an in-memory ElasticMQ restarted) is made again, not a crash."""
        try:
            return self.queue.receive(max_messages, wait_seconds)
        except core.NotFound as error:
            log.warning("the queue is gone; creating it again", extra={"reason": str(error)})
            self.queue.ensure()
            return []

    def _start(self, pool: ThreadPoolExecutor, message: storage.Message) -> None:
        future = pool.submit(self.handle, message)
        self._in_flight.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        self._in_flight.discard(future)
        if not self._in_flight:
            self.acks.flush()  # nothing else is coming soon to share the delete call

    def _sweep_if_due(self) -> None:
        """While idle, remove expired data from a store that has no lifecycle rules of its own."""
        if self.jobs.expires_by_itself:
            return
        if self._last_sweep is not None and self.clock() - self._last_sweep < SWEEP_INTERVAL_SECONDS:
            return
        self._last_sweep = self.clock()
        try:
            self.jobs.expire_after(self.retention_seconds)
        except core.ThumbnailsError as error:
            log.warning("could not sweep expired data", extra={"reason": str(error)})

    def request_stop(self, signum=None, frame=None) -> None:
        """First signal: finish the jobs in hand, then stop. Second signal: stop once the
        renders running now end (jobs received but not started come back to the queue)."""
        if self._stop_requested:
            raise SystemExit(128 + (signum or 0))
        log.info("stop requested; finishing the jobs in hand")
        self._stop_requested = True
        self._stopping.set()
        if not self._in_flight:
            raise _StopNow()

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]

    def _back_off(self, failures: int, error: Exception) -> None:
        delay = backoff(failures, BACKOFF_BASE_SECONDS, MAX_BACKOFF_SECONDS)
        log.warning("dependency unavailable (%s); retrying in %.1f s", error, delay)
        self._stopping.wait(delay)

    def _hand_back(self, message: storage.Message, seconds: int = 0) -> None:
        try:
            self.queue.change_visibility(message.receipt, seconds)
        except core.ThumbnailsError as error:
            log.warning("could not hand back a message (it returns after its timeout): %s", error)

    # -- one message, as the loop runs it ----------------------------------------

    def handle(self, message: storage.Message) -> None:
        """Process one message and never raise: a failure leaves the message to come back.
        While storage is away the message is kept, hidden by the heartbeat, and retried with
        back-off, so a short outage does not use up its receives."""
        with log_context(**_job_fields(message)):
            try:
                with Heartbeat(self.queue, message.receipt, self.visibility_timeout_seconds):
                    self._process_retrying(message)
            except _RetrySoon as retry:
                self._hand_back(message, retry.seconds)  # after the heartbeat stopped extending it
            except Exception:  # a bug outside the render must not take the worker down
                log.exception("unexpected error; the message will be retried", extra={"outcome": "retry"})

    def _process_retrying(self, message: storage.Message) -> None:
        """Every step of process() may be repeated safely, so retrying the whole of it is right."""
        failures = conflicts = 0
        give_up_at = self.clock() + IN_PLACE_RETRY_SECONDS
        while True:
            try:
                self.process(message, use_hint=conflicts == 0)  # after a conflict, read what is there
                return
            except core.Conflict as error:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    log.warning("message %r keeps conflicting; it will come back: %s", message.body[:64], error)
                    return
                log.info("job changed by another thumbnailer; reading it again (%s)", error)
            except core.TransientError as error:
                failures += 1
                if self._stop_requested or self.clock() >= give_up_at:
                    log.warning("message %r left for later: %s", message.body[:64], error)
                    return
                self._back_off(failures, error)

    # -- one message -----------------------------------------------------------

    def process(self, message: storage.Message, use_hint: bool = True) -> None:
        """The whole of one message, acknowledged at the end; safe to run in several threads
        at once (renders take turns on the process's core, storage calls overlap)."""
        try:
            job_id = parse_job_id(message.body)
        except core.InvalidJob:
            log.error("dropping malformed message", extra={"body": message.body[:64], "outcome": "dropped"})
            self.acks.ack(message.receipt)
            return
        with log_context(job_id=job_id):
            hinted = self._hinted(job_id, message) if use_hint else None
            if hinted is None:
                self._process_job(job_id, message)
                return
            job, marked_waiting = hinted
            with log_context(owner=job.owner):
                if marked_waiting:
                    self.waiting.remove(job.owner, job.id)
                job.start_processing()  # not written: see HINT_TRUSTED_PART_OF_RECONCILE_AFTER
                self._render_job(job, message, hinted=True)

    def _hinted(self, job_id: str, message: storage.Message) -> tuple[core.Job, bool] | None:
        """The job as the api sent it, where this delivery may be worked from it: the first
        one, young, of a pending job. None: read the document (every other delivery)."""
        if message.hint is None or message.receive_count != 1 or message.sent_at is None:
            return None
        if time.time() - message.sent_at >= self.hint_max_age_seconds:
            return None
        try:
            job, marked_waiting = read_job_hint(message.hint)
        except core.InvalidJob as error:
            log.warning("ignoring a malformed job hint", extra={"reason": str(error)})
            return None
        if job.id != job_id or job.status is not core.JobStatus.PENDING:
            return None
        return job, marked_waiting

    def _process_job(self, job_id: str, message: storage.Message) -> None:
        try:
            job = self.jobs.load(job_id)
        except core.NotFound:
            self._retry_or_drop(message, "job document not found", message.sent_at)
            return
        except core.InvalidJob as error:
            log.error("dropping job with a corrupt document", extra={"reason": str(error), "outcome": "dropped"})
            self.acks.ack(message.receipt)
            return

        with log_context(owner=job.owner):
            self.waiting.remove(job.owner, job.id)  # taken up (or over): no longer counts as waiting
            if job.status.is_terminal:
                if job.status is core.JobStatus.CANCELLED:
                    # Cancelled, perhaps while we rendered: anything written for it goes.
                    self.jobs.delete_data(job.id, len(job.outputs))
                log.info("job already finished; dropping the message", extra={"status": job.status.value})
                self.acks.ack(message.receipt)
                return
            if message.receive_count > self.max_receives:
                self._finish_failed(job, message, HTTPStatus.INTERNAL_SERVER_ERROR,
                                    f"gave up after {self.max_receives} attempts")
                return
            self._render_job(job, message)

    def _render_job(self, job: core.Job, message: storage.Message, hinted: bool = False) -> None:
        """Render and complete a job. `hinted`: the job came with its message, already marked
        processing in memory only; every write of it is conditional on the version the api
        wrote, so a change since (a cancel, a rescue) comes back as Conflict and is read afresh."""
        if not hinted:
            job.start_processing()
            self.jobs.save(job)
        data = self._source(job, message, hinted)
        if data is None:
            return

        # One line per render: duplicate renders (at-least-once) are counted from these.
        log.info("rendering", extra={"receive_count": message.receive_count, "rescues": job.rescues})
        # Identical outputs are rendered once and stored under each of their indexes.
        distinct = tuple(dict.fromkeys(job.outputs))
        try:
            with self._render_lock:
                started = time.perf_counter()
                outputs = render(data, distinct, self.max_image_pixels, self.max_animation_frames)
                rendered = dict(zip(distinct, outputs, strict=True))
                render_seconds = time.perf_counter() - started
        except RenderError as error:
            # A fetched source that is no image says so in the words a program can match.
            prefix = "source_not_an_image: " if job.has_source and isinstance(error, UnsupportedImage) else ""
            self._finish_failed(job, message, error.code, prefix + str(error))
            return
        except Exception as error:  # noqa: BLE001 - any failure to render fails the job now: retries would repeat it
            log.exception("render failed unexpectedly", extra={"outcome": "failed"})
            self._finish_failed(job, message, HTTPStatus.INTERNAL_SERVER_ERROR,
                                f"the image could not be rendered (internal error: {type(error).__name__})")
            return
        outputs = [rendered[spec] for spec in job.outputs]
        metrics.RENDER_SECONDS.observe(render_seconds)
        for index, output in enumerate(outputs):
            self.jobs.save_output(job.id, index, output.data, output.content_type)
        job.complete()
        self.jobs.save(job)  # a Conflict here (cancelled meanwhile, say) re-reads and decides again
        self.acks.ack(message.receipt)
        self.webhooks.send(job)
        self._record(job, "complete", render_ms=round(render_seconds * 1000, 1), outputs=len(outputs),
                     size=f"{outputs[0].width}x{outputs[0].height}", content_type=outputs[0].content_type)

    def _source(self, job: core.Job, message: storage.Message, hinted: bool) -> bytes | None:
        """The image: the upload, or what source_url or source names. None when the job was
        failed for it; _RetrySoon when it may be readable later (a source that did not answer is
        tried again after a back-off, up to MAX_RECEIVES deliveries)."""
        try:
            if job.source_url is not None:
                return self.fetcher.fetch(job.source_url)
            if job.source is not None:
                if self.source_objects is None:
                    raise SourceError("objects by key need S3 storage; this thumbnailer's is a folder")
                return self.source_objects.read(job.source, self.max_upload_bytes)
            return self.jobs.load_input(job.id).data
        except core.NotFound:
            if hinted:  # perhaps cancelled meanwhile (its input deleted): read the job and decide
                raise core.Conflict(f"job {job.id}: input not found; reading the job") from None
            if self._within_grace(job.start.timestamp()):
                raise self._retry_soon(message, "input not visible yet") from None
            self._finish_failed(job, message, HTTPStatus.NOT_FOUND, "the uploaded image was not found")
        except SourceUnavailable as error:
            if message.receive_count < self.max_receives:
                delay = max(1, math.ceil(backoff(message.receive_count, SOURCE_RETRY_BASE_SECONDS,
                                                 MAX_SOURCE_RETRY_SECONDS)))
                log.warning("source unavailable; will retry", extra={
                    "receive_count": message.receive_count, "outcome": "retry", "reason": str(error)})
                raise _RetrySoon(delay) from None
            self._finish_failed(job, message, error.code,
                                f"{error} (attempt {message.receive_count} of {self.max_receives})")
        except SourceError as error:
            self._finish_failed(job, message, error.code, str(error))
        return None

    def _within_grace(self, since: float | None) -> bool:
        return since is not None and time.time() - since < self.grace_seconds

    def _retry_soon(self, message: storage.Message, reason: str) -> _RetrySoon:
        log.warning(f"{reason}; will retry", extra={"receive_count": message.receive_count, "outcome": "retry"})
        return _RetrySoon(RETRY_SOON_SECONDS)

    def _retry_or_drop(self, message: storage.Message, reason: str, since: float | None) -> None:
        """Storage may not show a fresh write yet: retry within the grace period, and until
        max_receives when the queue cannot say when the message was sent."""
        if self._within_grace(since) or (since is None and message.receive_count < self.max_receives):
            raise self._retry_soon(message, reason)
        log.error(f"{reason}; dropping the message", extra={"receive_count": message.receive_count,
                                                          "outcome": "dropped"})
        self.acks.ack(message.receipt)

    def _record(self, job: core.Job, outcome: str, **fields) -> None:
        metrics.JOBS_FINISHED.labels(outcome=outcome, code=str(job.code)).inc()
        if job.finish is not None:
            metrics.JOB_SECONDS.observe((job.finish - job.start).total_seconds())
        log.info(f"job {outcome}", extra={"outcome": outcome, "code": job.code, **fields})

    def _finish_failed(self, job: core.Job, message: storage.Message, code: int, reason: str) -> None:
        job.fail(code, reason)
        self.jobs.save(job)
        self.acks.ack(message.receipt)
        self.webhooks.send(job)
        self._record(job, "failed", reason=reason)
