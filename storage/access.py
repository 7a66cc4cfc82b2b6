"""A start-up check that the credentials may do what the process will do (IAM, on AWS).

A permission missing from the policy should stop a process at start-up, naming the action,
rather than surface later as one job that never finishes. Each action a process needs is
tried once here without touching any job: a probe object written and deleted outside `jobs/`,
a key that does not exist read, each queue's attributes read, and (for a thumbnailer) a
receipt that matches no message deleted and handed back. AWS checks permissions before it
looks at a receipt, so a refusal is a missing permission and any other answer is not.

Two actions cannot be tried without side effects: sqs:SendMessage (the api answers 503 and
fails the job when it is refused) and sqs:ReceiveMessage (the thumbnailer's first receive
comes right after this check; a refusal stops it the same way).
"""

from __future__ import annotations

import uuid

from core.errors import ThumbnailsError, TransientError
from storage import Backends

PROBE_PREFIX = "probes/"
# Shaped like an SQS receipt handle, but matching no message.
UNMATCHED_RECEIPT = "AQEB" + "0" * 100


def check_access(backends: Backends, receives: bool = False) -> None:
    """Raise PermissionDenied for the first action the credentials may not take. Other
    errors (an outage: TransientError) are raised too; the caller decides about those."""
    probe = f"{PROBE_PREFIX}{uuid.uuid4()}"
    backends.objects.ping()
    _refused_or_not(lambda: backends.objects.get(probe))  # s3:GetObject (absent: NotFound)
    backends.objects.put(probe, b"", "application/octet-stream")  # s3:PutObject
    backends.objects.delete(probe)  # s3:DeleteObject
    for queue in backends.queues:
        queue.ping()  # sqs:GetQueueAttributes
        if receives:
            _refused_or_not(lambda queue=queue: queue.delete([UNMATCHED_RECEIPT]))  # sqs:DeleteMessage
            _refused_or_not(lambda queue=queue: queue.change_visibility(UNMATCHED_RECEIPT, 0))


def _refused_or_not(call) -> None:
    """Run a probe whose only interesting outcome is a refusal (an outage is raised too)."""
    try:
        call()
    except TransientError:  # PermissionDenied among them
        raise
    except ThumbnailsError:  # NotFound for the absent key; a receipt refused as invalid
        pass
