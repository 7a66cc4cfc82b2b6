"""Stopping the embedded service loses nothing: queued jobs finish after a restart, results stay."""

from __future__ import annotations

import requests

from tests import images
from tests.embedded import EmbeddedService
from tests.environment import ALICE
from tests.waiting import poll_until_finished


def submit(service: EmbeddedService, count: int) -> list[str]:
    locations = []
    for number in range(count):
        response = requests.post(f"{service.url}/jobs", files={"image": (f"{number}.jpg", images.jpeg())},
                                 headers=ALICE, timeout=30)
        assert response.status_code == 202, response.text
        locations.append(response.headers["Location"].removeprefix(service.url))
    return locations


def test_jobs_submitted_before_a_stop_complete_after_the_restart(tmp_path):
    data_dir = tmp_path / "data"

    # Given jobs accepted by an api with no thumbnailer running, then the service stopped
    with EmbeddedService(data_dir, thumbnailers=0) as api_only:
        paths = submit(api_only, 3)
        statuses = {requests.get(api_only.url + path, headers=ALICE, timeout=5).json()["status"] for path in paths}
    assert statuses == {"pending"} and api_only.process.returncode == 0

    # When the service starts again, now with thumbnailers
    with EmbeddedService(data_dir, thumbnailers=2) as restarted:
        jobs = [poll_until_finished(restarted.url + path) for path in paths]

    # Then every job completed, and the results are still there after another restart
    assert [job["status"] for job in jobs] == ["complete"] * 3
    with EmbeddedService(data_dir, thumbnailers=0) as again:
        for path in paths:
            assert requests.get(again.url + path, headers=ALICE, timeout=5).json()["status"] == "complete"
            thumbnail = requests.get(f"{again.url}{path}/thumbnail", headers=ALICE, timeout=5)
            assert thumbnail.status_code == 200 and images.decode(thumbnail.content).size == (100, 50)
