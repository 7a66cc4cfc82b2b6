"""The reconciler: "202 means the job will end" whatever the queue does.

A job's message can be lost outside the thumbnailer's reach: a queue that acknowledged a send
and then forgot it (an ElasticMQ stopped without durable storage), a send whose answer never
came, an api killed between writing the job and sending its id. Such a job sits `pending` (or
`processing`) and is never written again. The reconciler finds jobs unfinished and unwritten for
longer than RECONCILE_AFTER_SECONDS and sends their id again on their priority's queue; after
MAX_RECEIVES such rescues the job is failed (503: submit again).

Idempotent: a rescue is a conditional write of the job as read (a job written meanwhile, by a
thumbnailer at work on it, is left alone), and a second message for a job that is then finished
is dropped by the thumbnailer as any duplicate is.

It runs in thumbnailers' idle time, at most every RECONCILE_INTERVAL_SECONDS across all of them:
a sweep first takes a lease, an object written with a conditional put, that no one else can take
until it runs out.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus

import core
import storage
from core.errors import OutcomeUnknown
from thumbnailer import metrics

log = logging.getLogger(__name__)
LEASE_KEY = "reconciler/lease.json"
LEASE_CONTENT_TYPE = "application/json"


class Reconciler:
    def __init__(self, backends: storage.Backends, settings: core.Settings, now: Callable[[], float] = time.time,
                 on_failed: Callable[[core.Job], None] = lambda job: None):
        self.backends = backends
        self.after_seconds = settings.reconcile_after_seconds
        self.interval_seconds = settings.reconcile_interval_seconds
        self.max_rescues = settings.max_receives
        self.now = now  # seconds since the epoch: lease ends and cutoffs are compared across hosts
        self.on_failed = on_failed  # the job's webhook, when it has one
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._next_look: float | None = None  # when this process may next look at the lease

    def sweep_if_due(self) -> int | None:
        """Sweep if this process's interval has passed and no one else holds the lease; return
        the jobs rescued, or None when no sweep ran. Never raises for a dependency's failure."""
        now = self.now()
        if self._next_look is not None and now < self._next_look:
            return None
        self._next_look = now + self.interval_seconds
        try:
            if not self._take_lease(now):
                return None
            return self.sweep()
        except core.ThumbnailsError as error:
            log.warning("reconciler sweep stopped", extra={"reason": str(error)})
            return None

    def _take_lease(self, now: float) -> bool:
        """Write the lease if it is absent or run out; of racing takers, one wins."""
        objects = self.backends.objects
        condition: dict = {"only_if_absent": True}
        try:
            stored = objects.get(LEASE_KEY)
        except core.NotFound:
            pass
        else:
            try:
                until = float(json.loads(stored.data)["until"])
            except (ValueError, KeyError, TypeError):
                until = 0  # a corrupt lease is taken over
            if until > now:
                return False
            condition = {"only_if": stored.version}
        lease = {"holder": self.holder, "taken": now, "until": now + self.interval_seconds}
        try:
            objects.put(LEASE_KEY, json.dumps(lease).encode(), LEASE_CONTENT_TYPE, **condition)
        except (core.Conflict, core.NotFound):
            return False  # another process took it first
        return True

    def sweep(self) -> int:
        """Rescue every job unfinished and unwritten for after_seconds; return how many."""
        cutoff = datetime.fromtimestamp(self.now() - self.after_seconds, UTC)
        rescued = 0
        for job in self.backends.jobs.unfinished_before(cutoff):
            rescued += self._rescue(job)
        if rescued:
            log.info("reconciler sweep", extra={"rescued": rescued})
        return rescued

    def _rescue(self, job: core.Job) -> int:
        if job.rescues >= self.max_rescues:
            job.fail(HTTPStatus.SERVICE_UNAVAILABLE,
                     f"the queue lost this job {job.rescues + 1} times; submit the image again")
            outcome = "failed"
        else:
            job.rescues += 1
            outcome = "requeued"
        try:
            self.backends.jobs.save(job)  # conditional on the version read: a job at work is left alone
        except (core.Conflict, core.NotFound):
            return 0
        if outcome == "requeued":
            try:
                self.backends.queue_for(job.priority).send(job.id)
            except OutcomeUnknown:
                pass  # perhaps sent; if not, the next sweep after the bound finds it again
        else:
            self.on_failed(job)
        metrics.JOBS_RESCUED.labels(outcome=outcome).inc()
        log.warning(f"job {outcome} by the reconciler", extra={
            "job_id": job.id, "status": job.status.value, "rescues": job.rescues, "outcome": outcome})
        return 1
