"""API keys and the rate limiter, without servers."""

import dataclasses

import pytest

import storage
from api.ratelimit import RateLimiter
from cli.keys import main
from core import ConfigurationError
from core.keys import RECHECK_SECONDS, KeyRing, new_key, parse_records
from processes.waiting import wait_until


def test_every_new_key_is_accepted_and_maps_to_its_owner():
    pairs = [new_key(f"owner{n}") for n in range(300)]  # secrets hold '_' and '-' now and then
    ring = KeyRing({record.key_id: record for _, record in pairs})
    assert all(ring.owner_of(key) == record.owner for key, record in pairs)


@pytest.mark.parametrize("presented", ["", "thk", "thk_00000000_x", "Bearer x", "thk_zz_zz"])
def test_unknown_or_malformed_keys_have_no_owner(presented):
    key, record = new_key("alice")
    assert KeyRing({record.key_id: record}).owner_of(presented) is None


def test_a_key_with_a_known_id_but_wrong_secret_is_refused():
    key, record = new_key("alice")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    assert KeyRing({record.key_id: record}).owner_of(forged) is None


def test_records_hold_only_a_hash_never_the_key():
    key, record = new_key("alice")
    assert key.split("_", 2)[2] not in record.line() and len(record.digest) == 64


def test_records_from_env_and_file(tmp_path):
    alice_key, alice = new_key("alice")
    bob_key, bob = new_key("bob")
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# comment\n{bob.line()}\n")
    ring = KeyRing.from_settings(alice.line(), str(keys_file))
    assert (ring.owner_of(alice_key), ring.owner_of(bob_key)) == ("alice", "bob")


@pytest.mark.parametrize("text", ["nope", "1234567:alice:" + "0" * 64, "12345678:al ice:" + "0" * 64,
                                  "12345678:alice:xyz"])
def test_malformed_records_are_a_configuration_error(text):
    with pytest.raises(ConfigurationError, match="API_KEYS"):
        parse_records(text, "API_KEYS")


def test_create_command_prints_the_key_once_and_stores_the_hash(tmp_path, capsys):
    keys_file = tmp_path / "keys"
    assert main(["create", "carol", "--file", str(keys_file)]) == 0
    key = capsys.readouterr().out.strip()
    assert key not in keys_file.read_text()
    assert KeyRing.from_settings("", str(keys_file)).owner_of(key) == "carol"


def test_rate_limiter_allows_the_budget_then_says_when_to_retry():
    now = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("a") == 20  # one token comes back every 20 s
    assert limiter.retry_after("b") == 0  # budgets are per owner
    now[0] = 20.0
    assert limiter.retry_after("a") == 0


# API_KEYS_FILE read again when it changes, without a restart.

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reloading_ring(keys_file, clock: Clock) -> KeyRing:
    ring = KeyRing({}, "", str(keys_file), clock=clock)
    ring.records = parse_records(keys_file.read_text(), "API_KEYS_FILE")
    return ring


def test_a_key_added_to_the_file_works_and_a_removed_one_stops_within_a_second(tmp_path, capsys):
    alice_key, alice = new_key("alice")
    keys_file = tmp_path / "keys"
    keys_file.write_text(alice.line() + "\n")
    clock = Clock()
    ring = reloading_ring(keys_file, clock)
    assert main(["create", "carol", "--file", str(keys_file)]) == 0  # appends a record
    carol_key = capsys.readouterr().out.strip()

    assert ring.owner_of(carol_key) is None, "looked at the file again within a second"
    clock.now += RECHECK_SECONDS
    assert (ring.owner_of(carol_key), ring.owner_of(alice_key)) == ("carol", "alice")

    keys_file.write_text("\n".join(line for line in keys_file.read_text().splitlines() if "alice" not in line))
    clock.now += RECHECK_SECONDS
    assert (ring.owner_of(carol_key), ring.owner_of(alice_key)) == ("carol", None)


@pytest.mark.parametrize("spoil", [lambda path: path.write_text("not a record\n"), lambda path: path.unlink(),
                                   lambda path: path.write_bytes(b"\xff\xfe\n")])
def test_a_spoiled_file_keeps_the_keys_in_use_and_logs_an_error_once(tmp_path, caplog, spoil):
    alice_key, alice = new_key("alice")
    keys_file = tmp_path / "keys"
    keys_file.write_text(alice.line() + "\n")
    clock = Clock()
    ring = reloading_ring(keys_file, clock)

    spoil(keys_file)
    for _ in range(3):
        clock.now += RECHECK_SECONDS
        assert ring.owner_of(alice_key) == "alice"
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "API_KEYS_FILE" in r.getMessage()]
    assert len(errors) == 1 and "keeping the 1 keys in use" in errors[0].getMessage()

    bob_key, bob = new_key("bob")
    keys_file.write_text(bob.line() + "\n")  # mended: read again
    clock.now += RECHECK_SECONDS
    assert (ring.owner_of(bob_key), ring.owner_of(alice_key)) == ("bob", None)


def test_a_running_api_takes_a_new_key_and_drops_a_removed_one_without_restart(embedded_settings, tmp_path):
    from api import create_app

    keys_file = tmp_path / "api-keys"
    keys_file.write_text("")
    settings = dataclasses.replace(embedded_settings, api_keys="", api_keys_file=str(keys_file))
    backends = storage.connect(settings)
    backends.ensure()
    client = create_app(settings, backends).test_client()
    key, record = new_key("dave")

    def answer() -> int:
        return client.get("/jobs/0123456789abcdef", headers={"Authorization": f"Bearer {key}"}).status_code

    assert answer() == 401
    with open(keys_file, "a") as keys:  # as `thumbnails keys create dave --file` does
        keys.write(record.line() + "\n")
    # Few tries (interval 0.25 s): each refused one counts against the address's wrong-key budget.
    wait_until(lambda: answer() == 404, 10, interval=0.25, description="the new key accepted")

    keys_file.write_text("")
    wait_until(lambda: answer() == 401, 10, interval=0.25, description="the removed key refused")
