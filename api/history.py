"""GET /jobs and GET /jobs/summary: the caller's own history, from a job store that keeps one.

On the object-store documents (JOBS_URL=objects) there is nothing to query: both answer 501
with a message naming the configurations that give history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus

from flask import Blueprint, g, jsonify, request
from prometheus_client.core import GaugeMetricFamily

import core
from api.auth import require_owner
from api.context import backends, settings
from api.errors import error_response
from api.signing import add_signed_urls
from core.errors import HistoryUnavailable, InvalidOption
from core.job import output_path, status_path
from core.priorities import PRIORITIES
from storage.jobstore import ACTIVE_STATUSES, DEFAULT_PAGE_SIZE, JobQuery

blueprint = Blueprint("history", __name__, url_prefix="/jobs")
blueprint.before_request(require_owner)
LIST_PARAMETERS = {"status", "priority", "since", "until", "limit", "cursor"}


@blueprint.errorhandler(InvalidOption)
def _invalid(error: InvalidOption):
    return error_response(HTTPStatus.BAD_REQUEST, str(error), field=error.field)


@blueprint.errorhandler(HistoryUnavailable)
def _unavailable(error: HistoryUnavailable):
    return error_response(HTTPStatus.NOT_IMPLEMENTED, str(error))


@blueprint.get("")
def list_jobs():
    """?status=a,b (or repeated) &priority= &since= &until= (ISO 8601) &limit= (1-500) &cursor="""
    page = backends().jobs.page(read_query(request.args, g.owner))
    retention, root = settings().retention_seconds, request.url_root
    return jsonify(jobs=[listed(job, retention, root) for job in page.jobs], next=page.next)


@blueprint.get("/summary")
def summary():
    found = backends().jobs.summary(g.owner)
    oldest = found.oldest_pending
    return jsonify(
        counts=found.counts,
        total=sum(count for by_priority in found.counts.values() for count in by_priority.values()),
        oldest_pending=None if oldest is None else oldest.isoformat(timespec="milliseconds"),
        oldest_pending_age_seconds=None if oldest is None else round(_age_seconds(oldest), 3),
    )


def read_query(args, owner: str) -> JobQuery:
    unknown = set(args) - LIST_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidOption(name, f"unknown parameter; use {', '.join(sorted(LIST_PARAMETERS))}")
    statuses = []
    for value in (part.strip() for raw in args.getlist("status") for part in raw.split(",")):
        try:
            statuses.append(core.JobStatus(value))
        except ValueError:
            raise InvalidOption("status", f"{value!r} is not one of "
                                          f"{', '.join(status.value for status in core.JobStatus)}") from None
    priority = args.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise InvalidOption("priority", f"{priority!r} is not one of {', '.join(PRIORITIES)}")
    return JobQuery(owner, statuses=tuple(dict.fromkeys(statuses)), priority=priority,
                    since=_time(args, "since"), until=_time(args, "until"),
                    limit=_limit(args.get("limit")), cursor=args.get("cursor") or None)


def _time(args, name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))  # '+' arrives as a space
    except ValueError:
        raise InvalidOption(name, f"{raw!r} is not an ISO 8601 time such as 2026-11-28T09:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        return int(raw)
    except ValueError:
        raise InvalidOption("limit", f"{raw!r} is not a whole number") from None


def listed(job: core.Job, retention_seconds: int, root: str) -> dict:
    """The job as GET /jobs/ID shows it, plus `expired`: an expired job's outputs are gone, so it
    carries no download links (nor signed ones) and its location is its status page (which answers 410)."""
    document = job.to_dict()
    expired = job.is_expired(retention_seconds)
    location = status_path(job.id) if expired else job.location
    # Plain concatenation: what urljoin gives for these root-relative paths, at a tenth of the cost.
    document["location"] = root + location.lstrip("/")
    for index, output in enumerate(document["outputs"]):
        if not expired:
            output["url"] = root + output_path(job.id, index).lstrip("/")
    add_signed_urls(document, job, root)  # an expired job's expiry has passed: null ones
    document["expired"] = expired
    return document


def _age_seconds(moment: datetime) -> float:
    return (datetime.now(UTC) - moment).total_seconds()


class JobGauges:
    """Read at scrape time, across owners: active jobs by status and priority, and the age of
    the oldest pending one. Nothing is reported from a store without history."""

    def __init__(self, jobs):
        self.jobs = jobs

    def collect(self):
        if not self.jobs.history:
            return
        try:
            found = self.jobs.summary(None, ACTIVE_STATUSES)
        except core.ThumbnailsError:
            return
        family = GaugeMetricFamily("thumbnails_jobs_active", "Jobs pending or processing, every owner.",
                                   labels=["status", "priority"])
        for status in ACTIVE_STATUSES:
            for priority in PRIORITIES:
                family.add_metric([status.value, priority], found.counts.get(status.value, {}).get(priority, 0))
        yield family
        oldest = GaugeMetricFamily("thumbnails_oldest_pending_job_seconds",
                                   "Age of the oldest pending job, every owner (0 when none).")
        oldest.add_metric([], 0 if found.oldest_pending is None else _age_seconds(found.oldest_pending))
        yield oldest
