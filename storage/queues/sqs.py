"""Queue on Amazon SQS or an SQS-compatible server (ElasticMQ)."""

from __future__ import annotations

from core.errors import NotFound, ThumbnailsError
from storage.aws import translated_errors
from storage.queues.base import MAX_ENTRIES_PER_BATCH, MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS, Message, Queue

# The message attribute that carries the job document beside its id (Queue.send_job).
HINT = "job"


class SqsQueue(Queue):
    empty_check_seconds = 1
    def __init__(self, client, name: str, visibility_timeout_seconds: int):
        self.client = client
        self.name = name
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            with translated_errors(f"queue {self.name}"):
                self._url = self.client.get_queue_url(QueueName=self.name)["QueueUrl"]
        return self._url

    def ensure(self) -> None:
        """Look the queue up afresh (it may have been deleted and made again) or create it."""
        self._url = None
        try:
            _ = self.url  # looked up (and cached) when the queue exists
        except NotFound:
            with translated_errors(f"creating queue {self.name}"):
                attributes = {"VisibilityTimeout": str(self.visibility_timeout_seconds)}
                self._url = self.client.create_queue(QueueName=self.name, Attributes=attributes)["QueueUrl"]

    def ping(self) -> None:
        with translated_errors(f"queue {self.name}"):
            self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])

    def send(self, body: str) -> None:
        with translated_errors(f"sending to {self.name}"):
            self.client.send_message(QueueUrl=self.url, MessageBody=body)

    def send_job(self, body: str, hint: str) -> None:
        with translated_errors(f"sending to {self.name}"):
            self.client.send_message(QueueUrl=self.url, MessageBody=body,
                                     MessageAttributes={HINT: {"DataType": "String", "StringValue": hint}})

    def receive(self, max_messages: int = MAX_MESSAGES_PER_RECEIVE,
                wait_seconds: int = MAX_WAIT_TIME_SECONDS) -> list[Message]:
        with translated_errors(f"receiving from {self.name}"):
            response = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(max_messages, MAX_MESSAGES_PER_RECEIVE),
                WaitTimeSeconds=min(wait_seconds, MAX_WAIT_TIME_SECONDS),
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=[HINT],
            )
        return [
            Message(item["Body"], item["ReceiptHandle"], int(item["Attributes"]["ApproximateReceiveCount"]),
                    int(item["Attributes"]["SentTimestamp"]) / 1000 if "SentTimestamp" in item["Attributes"] else None,
                    item.get("MessageAttributes", {}).get(HINT, {}).get("StringValue"))
            for item in response.get("Messages", [])
        ]

    def delete(self, receipts: list[str]) -> None:
        for start in range(0, len(receipts), MAX_ENTRIES_PER_BATCH):
            entries = [{"Id": str(index), "ReceiptHandle": receipt}
                       for index, receipt in enumerate(receipts[start:start + MAX_ENTRIES_PER_BATCH])]
            with translated_errors(f"deleting from {self.name}"):
                response = self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
            failed = [entry for entry in response.get("Failed", []) if entry.get("SenderFault") is False]
            if failed:
                raise ThumbnailsError(f"deleting from {self.name}: {failed}")

    def approximate_depth(self) -> tuple[int, int]:
        with translated_errors(f"queue {self.name}"):
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def change_visibility(self, receipt: str, seconds: int) -> None:
        with translated_errors(f"changing visibility in {self.name}"):
            self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=seconds)

    def delete_queue(self) -> None:
        """Remove the queue (tests clean up after themselves)."""
        with translated_errors(f"deleting queue {self.name}"):
            self.client.delete_queue(QueueUrl=self.url)
