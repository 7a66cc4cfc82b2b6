"""MinIO and then ElasticMQ stopped while submissions and renders are in flight, on a real api
and real thumbnailers (tests/faultload.py): every accepted job ends, none is lost, and no
request is answered 500; jobs written but never sent (an api killed mid-submit) are completed
by the reconciler. bench/faults.py runs the bigger version and prints the figures."""

from __future__ import annotations

import pytest

from tests import faultload

JOBS = 30


@pytest.mark.servers
def test_no_accepted_job_is_lost_and_nothing_answers_500_through_both_outages(tmp_path):
    tally = faultload.run(tmp_path, jobs=JOBS)
    print(f"\n{faultload.Tally.HEADER}\n{tally.row()}")
    assert tally.accepted >= JOBS  # senders in flight when the last wanted job was accepted add a few
    assert tally.lost == 0, f"jobs accepted and never finished: {tally.lost_ids}"
    assert tally.server_errors == 0, "see api.log"
    assert tally.complete == tally.accepted and tally.failed == 0
    assert tally.stranded_complete == tally.stranded  # the reconciler sent them, their message never was
    # No process died and no api worker was replaced. A broken connection to the api (counted,
    # and retried by the senders) is not a lost job; with a worker that stayed up, it is the
    # client's keep-alive race, and the figures show how often.
    assert "a process died" not in tally.other and tally.api_workers_replaced == 0, tally.other
