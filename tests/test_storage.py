"""The object store and queue against the real MinIO and ElasticMQ."""

import pytest

import core
import storage
from tests import images


@pytest.fixture
def settings(servers_settings):
    """These are the design's S3/SQS tests: this module runs on the real servers only."""
    return servers_settings


class TestStorage:
    def test_sqs(self, backends):
        queue = backends.queue
        job = core.Job()
        queue.send(job.id)

        messages = queue.receive(max_messages=10, wait_seconds=5)
        assert [m.body for m in messages] == [job.id]
        assert messages[0].receive_count == 1

        queue.delete([messages[0].receipt])
        assert queue.receive(max_messages=10, wait_seconds=0) == []
        assert queue.approximate_depth() == (0, 0)

    def test_sqs_message_returns_when_not_deleted(self, backends):
        queue = backends.queue
        queue.send("a")
        first = queue.receive(wait_seconds=5)
        queue.change_visibility(first[0].receipt, 0)
        again = queue.receive(wait_seconds=5)
        assert [m.body for m in again] == ["a"] and again[0].receive_count == 2

    def test_s3_job(self, backends):
        jobs = backends.jobs
        job = core.Job()
        jobs.save(job)
        assert jobs.load(job.id) == job

        job.start_processing()
        job.fail(415, "not an image")
        jobs.save(job)
        assert jobs.load(job.id) == job

    def test_s3_image(self, backends):
        jobs = backends.jobs
        job_id = core.Job().id
        data = images.jpeg()
        jobs.save_input(job_id, data, "image/jpeg")
        stored = jobs.load_input(job_id)
        assert stored.data == data and stored.content_type == "image/jpeg"

    def test_missing_objects_are_not_found(self, backends):
        with pytest.raises(core.NotFound):
            backends.jobs.load(core.Job().id)
        with pytest.raises(core.NotFound):
            backends.jobs.load("../../etc/passwd")

    def test_unreachable_server_is_transient(self, settings, monkeypatch):
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        backends = storage.connect(settings)
        with pytest.raises(core.TransientError):
            backends.objects.ping()
        with pytest.raises(core.TransientError):
            backends.queue.send("x")


class TestRequestCounts:
    """thumbnails_storage_requests_total counts what S3 and SQS bill: one per request sent."""

    @staticmethod
    def sent(service: str, operation: str) -> float:
        from prometheus_client import REGISTRY
        return REGISTRY.get_sample_value("thumbnails_storage_requests_total",
                                         {"service": service, "operation": operation}) or 0.0

    def test_each_s3_and_sqs_request_is_counted_by_operation(self, backends):
        puts, sends, receives = self.sent("s3", "PutObject"), self.sent("sqs", "SendMessage"), \
            self.sent("sqs", "ReceiveMessage")
        backends.objects.put("counted/a", b"x", "text/plain")
        backends.objects.put("counted/b", b"y", "text/plain")
        backends.queue.send("counted")
        backends.queue.receive(wait_seconds=5)
        assert self.sent("s3", "PutObject") - puts == 2
        assert self.sent("sqs", "SendMessage") - sends == 1
        assert self.sent("sqs", "ReceiveMessage") - receives >= 1
