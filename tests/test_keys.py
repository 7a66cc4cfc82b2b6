"""API keys and the rate limiter, without servers."""

import pytest

from api.ratelimit import RateLimiter
from cli.keys import main
from core import ConfigurationError
from core.keys import KeyRing, new_key, parse_records


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
