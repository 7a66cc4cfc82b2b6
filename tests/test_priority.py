"""Priority queues: high work overtakes a backlog of low work, and low work still finishes."""

import io

import core
import storage
from storage.queues.base import Message, Queue
from storage.queues.priority import PriorityQueues
from tests import images
from tests.jobs import messages_left, submit_directly
from thumbnailer.worker import Worker


def submit(backends, priority: str) -> core.Job:
    return submit_directly(backends, images.jpeg(), priority=priority)


def test_a_later_high_job_finishes_before_most_of_a_low_backlog(backends, settings):
    low = [submit(backends, "low") for _ in range(16)]
    high = submit(backends, "high")
    Worker(backends, settings).work(burst=True)

    finished = {job.id: backends.jobs.load(job.id) for job in (*low, high)}
    assert all(job.status is core.JobStatus.COMPLETE for job in finished.values()), "low jobs all finish"
    high_finish = finished[high.id].finish
    earlier = sum(finished[job.id].finish < high_finish for job in low)
    assert earlier < len(low) // 2


class FakeQueue(Queue):
    """Always has work: what a steady load looks like to the schedule."""

    def __init__(self, name: str):
        self.name = name

    def receive(self, max_messages=10, wait_seconds=20):
        return [Message(self.name, "r", 1)]

    ensure = ping = lambda self: None
    send = delete = lambda self, value: None
    approximate_depth = lambda self: (1, 0)  # noqa: E731
    change_visibility = lambda self, receipt, seconds: None  # noqa: E731


def test_low_is_not_starved_under_a_steady_high_load():
    queues = PriorityQueues({name: FakeQueue(name) for name in ("high", "normal", "low")})
    served = [queues.receive(1, 0)[0].body for _ in range(70)]
    assert served.count("low") == 10 and served.count("normal") == 20 and served.count("high") == 40


def test_receipts_go_back_to_the_queue_they_came_from(backends):
    inbox = backends.inbox
    submit(backends, "low")
    [message] = inbox.receive(1, 5)
    assert message.receipt.startswith("low:")
    inbox.delete([message.receipt])
    assert messages_left(backends.low) == 0


def test_the_api_sends_each_priority_to_its_queue(client, backends):
    ids = {}
    for priority in ("high", "low"):
        response = client.post(f"/jobs?priority={priority}", data={"image": (io.BytesIO(images.jpeg()), "a.jpg")},
                               content_type="multipart/form-data")
        assert response.status_code == 202 and response.get_json()["priority"] == priority
        ids[priority] = response.get_json()["id"]
    assert [m.body for m in backends.high.receive(wait_seconds=5)] == [ids["high"]]
    assert [m.body for m in backends.low.receive(wait_seconds=5)] == [ids["low"]]
    assert messages_left(backends.queue) == 0


def test_embedded_priority_queues_are_sibling_files(tmp_path):
    settings = core.Settings.from_env({"DATA_DIR": str(tmp_path)})
    embedded = storage.connect(settings)
    embedded.ensure()
    embedded.queue_for("low").send("low job")
    embedded.queue_for("high").send("high job")
    assert sorted(path.name for path in tmp_path.glob("queue*.db")) == ["queue-high.db", "queue-low.db", "queue.db"]
    assert [m.body for m in embedded.inbox.receive(10, 1)] == ["high job"]
    assert [m.body for m in embedded.inbox.receive(10, 1)] == ["low job"]


class CountingQueue(FakeQueue):
    """Has work or not, as the test says; counts the receives it answers."""

    def __init__(self, name: str, has_work: bool):
        super().__init__(name)
        self.has_work = has_work
        self.receives = 0

    def receive(self, max_messages=10, wait_seconds=20):
        self.receives += 1
        return super().receive(max_messages, wait_seconds) if self.has_work else []


def test_under_a_load_of_one_priority_the_empty_queues_are_asked_once_a_second():
    queues = {name: CountingQueue(name, name == "normal") for name in ("high", "normal", "low")}
    inbox = PriorityQueues(queues, idle_wait_seconds=60)  # all of the test inside one pass-over
    served = [inbox.receive(1, 1)[0].body for _ in range(14)]
    assert served == ["normal"] * 14
    assert (queues["high"].receives, queues["normal"].receives, queues["low"].receives) == (1, 14, 1)


def test_a_queue_passed_over_is_asked_before_an_empty_answer():
    queues = {name: CountingQueue(name, False) for name in ("high", "normal", "low")}
    inbox = PriorityQueues(queues, idle_wait_seconds=60)
    assert inbox.receive(1, 0) == []  # all three found empty
    queues["low"].has_work = True
    assert [message.body for message in inbox.receive(1, 0)] == ["low"]
