"""Three queues (high, normal, low) read as one, high first, without starving low.

Policy: each receive has a *first choice*, taken in turn from core.priorities.SCHEDULE (four high, two
normal, one low in every seven receives). The first choice is tried first, then the others
from high to low, each with a non-blocking receive; so under a steady load of every priority,
high gets at least 4/7 of the batches, normal 2/7 and low 1/7, and a queue alone with work gets
every batch. When all three are empty and the caller may wait, one long poll of at most
IDLE_WAIT_SECONDS runs on the normal queue (where default requests go), then the other two are
looked at again: an idle thumbnailer notices normal work at once and high or low work within
about IDLE_WAIT_SECONDS, for three cheap requests a second while idle.

A queue found empty is passed over for IDLE_WAIT_SECONDS while another one has work: under a
load of one priority the others are asked about once a second, not before every batch (each
receive is a billed request). Before an empty answer every queue is asked, so nothing waits
longer for being passed over than an idle thumbnailer would make it wait.

Receipts carry their queue ("high:<receipt>"), so acknowledgements, heartbeats and hand-backs
reach the queue a message came from, and callers see one Queue.
"""

from __future__ import annotations

import itertools
import time

from core.priorities import HIGH, LOW, NORMAL, PRIORITIES, SCHEDULE
from storage.queues.base import MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS, Message, Queue

IDLE_WAIT_SECONDS = 1


class PriorityQueues(Queue):
    """Receives from three queues by SCHEDULE; sends are made to one of them directly."""

    def __init__(self, queues: dict[str, Queue], schedule: tuple[str, ...] = SCHEDULE,
                 idle_wait_seconds: int = IDLE_WAIT_SECONDS):
        self.queues = queues
        self._turns = itertools.cycle(schedule)
        self.idle_wait_seconds = idle_wait_seconds
        self._found_empty: dict[str, float] = {}  # queue name -> monotonic time it was last found empty

    @property
    def empty_check_seconds(self) -> int:  # type: ignore[override]
        return max(queue.empty_check_seconds for queue in self.queues.values())

    def ensure(self) -> None:
        for queue in self.queues.values():
            queue.ensure()

    def ping(self) -> None:
        for queue in self.queues.values():
            queue.ping()

    def send(self, body: str) -> None:
        self.queues[NORMAL].send(body)

    def receive(self, max_messages: int = MAX_MESSAGES_PER_RECEIVE,
                wait_seconds: int = MAX_WAIT_TIME_SECONDS) -> list[Message]:
        first = next(self._turns)
        order = (first, *(name for name in PRIORITIES if name != first))
        recently_empty = time.monotonic() - self.idle_wait_seconds
        passed_over = tuple(name for name in order if self._found_empty.get(name, -1.0) > recently_empty)
        messages = self._first_found(tuple(name for name in order if name not in passed_over), max_messages)
        if messages:
            return messages
        if wait_seconds <= 0:
            return self._first_found(passed_over, max_messages)
        messages = self._tagged(NORMAL, self.queues[NORMAL].receive(
            max_messages, min(wait_seconds, self.idle_wait_seconds)))
        return messages or self._first_found((HIGH, LOW), max_messages)

    def _first_found(self, order: tuple[str, ...], max_messages: int) -> list[Message]:
        for name in order:
            messages = self.queues[name].receive(max_messages, 0)
            if messages:
                self._found_empty.pop(name, None)
                return self._tagged(name, messages)
            self._found_empty[name] = time.monotonic()
        return []

    @staticmethod
    def _tagged(name: str, messages: list[Message]) -> list[Message]:
        return [Message(message.body, f"{name}:{message.receipt}", message.receive_count, message.sent_at,
                        message.hint)
                for message in messages]

    def _split(self, receipt: str) -> tuple[str, str]:
        """(queue name, inner receipt); an untagged receipt came from the normal queue directly."""
        name, separator, inner = receipt.partition(":")
        return (name, inner) if separator and name in self.queues else (NORMAL, receipt)

    def delete(self, receipts: list[str]) -> None:
        grouped: dict[str, list[str]] = {}
        for receipt in receipts:
            name, inner = self._split(receipt)
            grouped.setdefault(name, []).append(inner)
        for name, inners in grouped.items():
            self.queues[name].delete(inners)

    def change_visibility(self, receipt: str, seconds: int) -> None:
        name, inner = self._split(receipt)
        self.queues[name].change_visibility(inner, seconds)

    def approximate_depth(self) -> tuple[int, int]:
        depths = [queue.approximate_depth() for queue in self.queues.values()]
        return sum(depth[0] for depth in depths), sum(depth[1] for depth in depths)
