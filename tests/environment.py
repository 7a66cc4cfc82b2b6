"""The test run's environment: testing.env, a name for this run, and two owners' API keys.

Helpers and test modules import these names from here, never from conftest; conftest calls
`apply()` once, before any test runs, so that the processes tests start inherit the same values.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import requests
from dotenv import dotenv_values

from core.keys import new_key

ROOT = Path(__file__).resolve().parent.parent
TESTING_ENV = {key: value for key, value in dotenv_values(ROOT / "testing.env").items() if value is not None}
# Buckets and queues on the real servers are named after the run: thumbnails-test-20261128t070102-1a2b.
RUN_ID = f"{TESTING_ENV['TEST_NAME_PREFIX']}-{time.strftime('%Y%m%dt%H%M%S')}-{secrets.token_hex(2)}"

ALICE_KEY, _alice = new_key("alice")
BOB_KEY, _bob = new_key("bob")
ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
BOB = {"Authorization": f"Bearer {BOB_KEY}"}
# Alice over HTTP, for tests that drive a running service the way curl would.
alice_http = requests.Session()
alice_http.headers.update(ALICE)


def apply() -> None:
    """Export testing.env and the keys: the api processes tests start accept Alice and Bob, and
    `thumbnails submit/status` send Alice's key by default."""
    os.environ.update(TESTING_ENV)
    os.environ["API_KEYS"] = f"{_alice.line()},{_bob.line()}"
    os.environ["THUMBNAILS_KEY"] = ALICE_KEY
