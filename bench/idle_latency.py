"""How soon an idle thumbnailer's receive loop sees a new message, per priority.

Compares one queue long-polled for 20 s (the loop before priorities) with PriorityQueues
(non-blocking probes by the schedule, then a short long poll on normal). Needs ElasticMQ:
`set -a; . ./testing.env; set +a; python -m bench.idle_latency`.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid

from core.priorities import NORMAL, PRIORITIES
from storage.aws import make_client
from storage.queues.priority import PriorityQueues
from storage.queues.sqs import SqsQueue

ROUNDS = 6


def measure(receiver, sender, rounds: int = ROUNDS) -> list[float]:
    """Seconds from send to receive, the receiver idle in a loop as the worker's is."""
    seen: dict[str, float] = {}
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            for message in receiver.receive(10, 20):
                seen[message.body] = time.perf_counter()
                receiver.delete([message.receipt])

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    latencies = []
    for _ in range(rounds):
        time.sleep(random.uniform(0.5, 1.5))  # land anywhere within a poll
        body, sent = str(uuid.uuid4()), time.perf_counter()
        sender.send(body)
        while body not in seen:
            time.sleep(0.005)
        latencies.append(seen[body] - sent)
    stop.set()
    sender.send("wake")  # end the poll in progress, so the thread stops before its queue goes
    thread.join()
    return latencies


def main() -> None:
    client = make_client("sqs")
    prefix = f"latency-{uuid.uuid4().hex[:6]}"
    queues = {name: SqsQueue(client, f"{prefix}-{name}", 30) for name in PRIORITIES}
    for queue in queues.values():
        queue.ensure()
    try:
        single = measure(queues[NORMAL], queues[NORMAL])
        print(f"before (one queue, 20 s long poll): median {statistics.median(single) * 1000:.0f} ms, "
              f"max {max(single) * 1000:.0f} ms")
        inbox = PriorityQueues(queues)
        for name in PRIORITIES:
            after = measure(inbox, queues[name])
            print(f"after, {name:6} priority: median {statistics.median(after) * 1000:.0f} ms, "
                  f"max {max(after) * 1000:.0f} ms")
    finally:
        for queue in queues.values():
            queue.delete_queue()


if __name__ == "__main__":
    main()
