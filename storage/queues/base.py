"""What every queue offers: SQS's semantics, whatever the backend."""

from __future__ import annotations

import abc
import dataclasses

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
MAX_WAIT_TIME_SECONDS = 20
MAX_MESSAGES_PER_RECEIVE = 10
MAX_ENTRIES_PER_BATCH = 10


@dataclasses.dataclass(frozen=True)
class Message:
    body: str
    receipt: str
    receive_count: int
    sent_at: float | None = None  # seconds since the epoch, when the backend tells
    # The job document as the api wrote it (core.job.job_hint), where the queue carries one:
    # lets a thumbnailer skip reading it back (Queue.send_job).
    hint: str | None = None


class Queue(abc.ABC):
    """At-least-once delivery: a received message comes back unless deleted in time."""

    # How long a receive must wait before an empty answer means that the queue is empty: 0
    # where every receive sees every message (SQLite); SQS's short polls sample some servers.
    empty_check_seconds: int = 0

    @abc.abstractmethod
    def ensure(self) -> None:
        """Create the queue if it is missing."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Return if the queue answers; raise TransientError if it does not."""

    @abc.abstractmethod
    def send(self, body: str) -> None: ...

    def send_job(self, body: str, hint: str) -> None:
        """Send a job id with its document beside it. Only SQS carries the hint (a message
        attribute, which older thumbnailers ignore); elsewhere reading the job back is a local
        query, and the hint is dropped."""
        self.send(body)

    @abc.abstractmethod
    def receive(self, max_messages: int = MAX_MESSAGES_PER_RECEIVE,
                wait_seconds: int = MAX_WAIT_TIME_SECONDS) -> list[Message]:
        """Long-poll: return as soon as a message is there, or empty after wait_seconds."""

    @abc.abstractmethod
    def delete(self, receipts: list[str]) -> None:
        """Acknowledge messages; unknown or stale receipts are ignored."""

    @abc.abstractmethod
    def approximate_depth(self) -> tuple[int, int]:
        """(messages waiting, messages received but not yet deleted), for metrics."""

    @abc.abstractmethod
    def change_visibility(self, receipt: str, seconds: int) -> None:
        """Hide a message for `seconds` more (0 hands it back at once)."""
