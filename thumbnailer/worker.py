"""The thumbnailer's loop: receive, process, acknowledge.

One process renders one image at a time (run one process per core, see thumbnailer.pool);
a few threads per process hold the next jobs, so reading inputs and writing thumbnails
overlaps with the render in hand.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from http import HTTPStatus

import storage
from storage.job import parse_job_id
from storage.queues.base import MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS
from thumbnailer.acks import MAX_ACK_DELAY_SECONDS, Acknowledger
from thumbnailer.errors import RenderError
from thumbnailer.render import ThumbnailSpec, render

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30
# While jobs are in hand, poll briefly: a stop request or a finished pipeline is noticed soon.
BUSY_POLL_SECONDS = 1


class _StopNow(BaseException):
    """Raised by the signal handler to break out of an idle long poll (a BaseException, like
    KeyboardInterrupt, so that no library on the way catches it)."""


class Worker:
    """Turns queued job ids into thumbnails. At-least-once: every step may be repeated safely."""

    def __init__(self, backends: storage.Backends, settings: storage.Settings):
        self.jobs = backends.jobs
        self.queue = backends.queue
        self.acks = Acknowledger(backends.queue)
        self.max_receives = settings.max_receives
        self.spec = ThumbnailSpec(max_pixels=settings.max_image_pixels)
        self.threads = settings.thumbnailer_threads
        self._render_lock = threading.Lock()  # one render at a time: the process's core
        self._in_flight: set[Future] = set()
        self._stop_requested = False

    # -- the loop --------------------------------------------------------------

    def work(self, burst: bool = False) -> None:
        """Process messages until asked to stop; with burst, until the queue is empty."""
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
            restore()
            log.info("thumbnailer stopped")

    def _loop(self, pool: ThreadPoolExecutor, burst: bool) -> None:
        """Receive as many messages as there are free threads (at most 10 per call): a message
        is never held, invisible to other thumbnailers, while no thread can work on it."""
        failures = 0
        while not self._stop_requested:
            self.acks.flush_if_due()
            free = self.threads - len(self._in_flight)
            if free <= 0:
                wait(list(self._in_flight), timeout=MAX_ACK_DELAY_SECONDS, return_when=FIRST_COMPLETED)
                continue
            busy = bool(self._in_flight)
            try:
                messages = self.queue.receive(min(free, MAX_MESSAGES_PER_RECEIVE),
                                              BUSY_POLL_SECONDS if busy or burst else MAX_WAIT_TIME_SECONDS)
            except storage.TransientError as error:
                failures += 1
                self._back_off(failures, error)
                continue
            failures = 0
            if not messages and burst and not busy:
                break
            for message in messages:
                if self._stop_requested:
                    self._hand_back(message)
                else:
                    self._start(pool, message)

    def _start(self, pool: ThreadPoolExecutor, message: storage.Message) -> None:
        future = pool.submit(self._process_guarded, message)
        self._in_flight.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        self._in_flight.discard(future)
        if not self._in_flight:
            self.acks.flush()  # nothing else is coming soon to share the delete call

    def request_stop(self, signum=None, frame=None) -> None:
        """First signal: finish the jobs in hand, then stop. Second signal: stop once the
        renders running now end (jobs received but not started come back to the queue)."""
        if self._stop_requested:
            raise SystemExit(128 + (signum or 0))
        log.info("stop requested; finishing the jobs in hand")
        self._stop_requested = True
        if not self._in_flight:
            raise _StopNow()

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]

    def _back_off(self, failures: int, error: Exception) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 2 ** min(failures, 5))
        log.warning("queue unavailable (%s); retrying in %d s", error, delay)
        time.sleep(delay)

    def _hand_back(self, message: storage.Message) -> None:
        try:
            self.queue.change_visibility(message.receipt, 0)
        except storage.ThumbnailsError as error:
            log.warning("could not hand back a message (it returns after its timeout): %s", error)

    def _process_guarded(self, message: storage.Message) -> None:
        """A failure here never ends the loop: the message stays and comes back."""
        try:
            self.process(message)
        except storage.TransientError as error:
            log.warning("message %r will be retried: %s", message.body[:64], error)
        except Exception:  # a bug or an exotic decoder failure must not take the worker down
            log.exception("unexpected error on message %r; it will be retried", message.body[:64])

    # -- one message -----------------------------------------------------------

    def process(self, message: storage.Message) -> None:
        """The whole of one message, acknowledged at the end; safe to run in several threads
        at once (renders take turns on the process's core, storage calls overlap)."""
        try:
            job_id = parse_job_id(message.body)
        except storage.InvalidJob:
            log.error("dropping malformed message %r", message.body[:64])
            self.acks.ack(message.receipt)
            return

        try:
            job = self.jobs.load(job_id)
        except storage.NotFound:
            self._retry_or_drop(message, f"job {job_id} not found")
            return
        except storage.InvalidJob as error:
            log.error("dropping job %s with a corrupt document: %s", job_id, error)
            self.acks.ack(message.receipt)
            return

        if job.status.is_terminal:
            log.info("job %s already %s; dropping duplicate message", job_id, job.status.value)
            self.acks.ack(message.receipt)
            return
        if message.receive_count > self.max_receives:
            self._finish_failed(job, message, HTTPStatus.INTERNAL_SERVER_ERROR,
                                f"gave up after {self.max_receives} attempts")
            return

        job.start_processing()
        self.jobs.save(job)
        try:
            source = self.jobs.load_input(job_id)
        except storage.NotFound:
            if message.receive_count >= self.max_receives:
                self._finish_failed(job, message, HTTPStatus.NOT_FOUND, "the uploaded image was not found")
            else:
                log.warning("job %s: input not visible yet (receive %d); will retry", job_id, message.receive_count)
            return

        try:
            with self._render_lock:
                started = time.perf_counter()
                thumbnail = render(source.data, self.spec)
                rendered_ms = (time.perf_counter() - started) * 1000
        except RenderError as error:
            self._finish_failed(job, message, error.code, str(error))
            return
        self.jobs.save_thumbnail(job_id, thumbnail.data, thumbnail.content_type)
        job.complete()
        self.jobs.save(job)
        self.acks.ack(message.receipt)
        log.info("job %s complete: %dx%d %s, rendered in %.0f ms", job_id, thumbnail.width, thumbnail.height,
                 thumbnail.content_type, rendered_ms)

    def _retry_or_drop(self, message: storage.Message, reason: str) -> None:
        """Storage may not show a fresh write yet; give up only after max_receives."""
        if message.receive_count >= self.max_receives:
            log.error("%s after %d receives; dropping the message", reason, message.receive_count)
            self.acks.ack(message.receipt)
        else:
            log.warning("%s (receive %d); will retry", reason, message.receive_count)

    def _finish_failed(self, job: storage.Job, message: storage.Message, code: int, reason: str) -> None:
        job.fail(code, reason)
        self.jobs.save(job)
        self.acks.ack(message.receipt)
        log.info("job %s failed: %d %s", job.id, code, reason)
