"""Jobs put straight into storage and the queue, and what is left on the queues afterwards."""

from __future__ import annotations

import core
import storage


def submit_directly(backends: storage.Backends, data: bytes, content_type: str = "image/jpeg",
                    **fields) -> core.Job:
    """What the api does, without the api: input, then job document, then the id on the queue of
    the job's priority. `fields` go to the Job (priority, callback_url, owner...)."""
    job = core.Job(**fields)
    backends.jobs.save_input(job.id, data, content_type)
    backends.jobs.save(job)
    backends.queue_for(job.priority).send(job.id)
    return job


def receive_until(queue: storage.Queue, count: int, wait_seconds: int = 10, attempts: int = 5) -> list:
    """Receive until `count` messages came (SQS may hand out fewer than asked per call)."""
    messages: list[storage.Message] = []
    for _ in range(attempts):
        messages += queue.receive(max_messages=count - len(messages), wait_seconds=wait_seconds)
        if len(messages) >= count:
            break
    return messages


def messages_left(queue: storage.Queue) -> int:
    """Waiting plus in flight: an unacknowledged message counts even while it is hidden."""
    waiting, in_flight = queue.approximate_depth()
    return waiting + in_flight


def nothing_queued(backends: storage.Backends) -> bool:
    """No message on any priority queue, neither waiting nor in flight: asked at once, where a
    receive would have to wait out a long poll to show that nothing comes."""
    return all(messages_left(queue) == 0 for queue in backends.queues)
