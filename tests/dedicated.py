"""A MinIO and an ElasticMQ of a test's own, on free ports, which it may stop and start at will.

The default instances on :9000 and :9324 are shared by everyone running tests on the machine;
fault tests never touch those. These run through scripts/services.sh like the shared ones, with
their own ports and SERVICES_DIR, and ElasticMQ keeps its messages across restarts, as SQS does.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.processes import free_port

SERVICES_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "services.sh"


def _port_pair() -> int:
    """A free port whose successor is free too (MinIO's console takes port + 1)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


class DedicatedServers:
    def __init__(self, directory: Path):
        self.minio_port = _port_pair()
        self.elasticmq_port = free_port()
        self._env = dict(os.environ, SERVICES_DIR=str(directory), MINIO_PORT=str(self.minio_port),
                         ELASTICMQ_PORT=str(self.elasticmq_port), ELASTICMQ_PERSISTENT="1")

    @property
    def endpoints(self) -> dict[str, str]:
        """The variables that point botocore (and so the service) at these servers."""
        return {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{self.minio_port}",
                "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{self.elasticmq_port}"}

    def start(self, *names: str) -> None:
        """Start minio and/or elasticmq (both by default); returns once they answer."""
        self._services("start", names)

    def stop(self, *names: str) -> None:
        self._services("stop", names)

    def _services(self, action: str, names: tuple[str, ...]) -> None:
        for name in names or ("minio", "elasticmq"):
            subprocess.run([SERVICES_SCRIPT, action, name], env=self._env, check=True, timeout=120)
