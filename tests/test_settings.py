"""Environment -> Settings: defaults, overrides, and errors that name the variable."""

import pytest

from core import ConfigurationError, Settings

BASE = {"STORAGE_URL": "s3://thumbs", "QUEUE_URL": "sqs://jobs"}


def test_minimal_environment_gets_defaults():
    settings = Settings.from_env(BASE)
    assert (settings.bucket, settings.queue_name) == ("thumbs", "jobs")
    assert settings.max_upload_bytes == 50 * 1024 * 1024
    assert settings.s3_addressing_style == "auto"


def test_one_thumbnailer_process_per_core_unless_set():
    assert Settings.from_env(BASE).processes >= 1
    assert Settings.from_env(dict(BASE, THUMBNAILER_PROCESSES="3")).processes == 3
    assert Settings.from_env(dict(BASE, THUMBNAILER_THREADS="2")).thumbnailer_threads == 2


def test_queue_may_be_a_full_sqs_url():
    settings = Settings.from_env(dict(BASE, QUEUE_URL="https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"))
    assert settings.queue_name == "jobs"


def test_explicit_arguments_beat_the_environment():
    settings = Settings.from_env(dict(BASE, MAX_RECEIVES="9"), max_receives=2)
    assert settings.max_receives == 2


@pytest.mark.parametrize("environ, variable", [
    ({"QUEUE_URL": "sqs://jobs"}, "STORAGE_URL"),
    ({"STORAGE_URL": "s3://thumbs"}, "QUEUE_URL"),
    (dict(BASE, STORAGE_URL="thumbs"), "STORAGE_URL"),
    (dict(BASE, STORAGE_URL="s3://thumbs/sub"), "STORAGE_URL"),
    (dict(BASE, QUEUE_URL="jobs"), "QUEUE_URL"),
    (dict(BASE, MAX_UPLOAD_BYTES="lots"), "MAX_UPLOAD_BYTES"),
    (dict(BASE, MAX_IMAGE_PIXELS="-1"), "MAX_IMAGE_PIXELS"),
    (dict(BASE, MAX_ANIMATION_FRAMES="0"), "MAX_ANIMATION_FRAMES"),
    (dict(BASE, S3_ADDRESSING_STYLE="sideways"), "S3_ADDRESSING_STYLE"),
    (dict(BASE, THUMBNAILER_PROCESSES="0"), "THUMBNAILER_PROCESSES"),
    (dict(BASE, THUMBNAILER_THREADS="many"), "THUMBNAILER_THREADS"),
])
def test_bad_settings_name_the_variable(environ, variable):
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env(environ)


def test_nothing_configured_means_the_embedded_pair_under_the_data_folder(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert (settings.storage_backend, settings.queue_backend) == ("file", "sqlite")
    assert settings.storage_path == tmp_path / "objects"
    assert settings.queue_path == tmp_path / "queue.db"


def test_the_default_data_folder_is_data_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).storage_path == tmp_path / "data" / "objects"


def test_embedded_backends_may_be_named_explicitly(tmp_path):
    settings = Settings.from_env({"STORAGE_URL": (tmp_path / "o").as_uri(),
                                  "QUEUE_URL": f"sqlite://{tmp_path / 'q.db'}"})
    assert (settings.storage_path, settings.queue_path) == (tmp_path / "o", tmp_path / "q.db")


@pytest.mark.parametrize("environ, variable", [
    ({"QUEUE_URL": "sqlite:///tmp/q.db"}, "STORAGE_URL"),
    ({"STORAGE_URL": "file:///tmp/objects"}, "QUEUE_URL"),
    (dict(BASE, STORAGE_URL="file://relative/folder"), "STORAGE_URL"),
    (dict(BASE, STORAGE_URL="ftp://thumbs"), "STORAGE_URL"),
    (dict(BASE, QUEUE_URL="sqlite://queue.db"), "QUEUE_URL"),
    (dict(BASE, QUEUE_URL="amqp://jobs"), "QUEUE_URL"),
    (dict(BASE, QUEUE_URL="sqs://"), "QUEUE_URL"),
])
def test_a_partial_or_mistyped_backend_is_an_error_never_a_local_fallback(environ, variable):
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env(environ)


def test_priority_queues_are_derived_from_queue_url_unless_set():
    settings = Settings.from_env(BASE)
    assert [settings.priority_queue_url(p) for p in ("high", "normal", "low")] == [
        "sqs://jobs-high", "sqs://jobs", "sqs://jobs-low"]
    full = Settings.from_env(dict(BASE, QUEUE_URL="https://sqs.eu-west-1.amazonaws.com/1234/jobs",
                                  QUEUE_URL_LOW="sqs://bulk"))
    assert full.priority_queue_url("high") == "https://sqs.eu-west-1.amazonaws.com/1234/jobs-high"
    assert full.priority_queue_url("low") == "sqs://bulk"
    embedded = Settings.from_env({"DATA_DIR": "/srv/thumbs"})
    assert embedded.priority_queue_url("high") == "sqlite:///srv/thumbs/queue-high.db"


@pytest.mark.parametrize("name, value", [
    ("QUEUE_URL_HIGH", "sqlite:///tmp/high.db"),  # another kind of queue than QUEUE_URL
    ("QUEUE_URL_LOW", "sqs://"),
    ("MAX_OUTPUTS", "0"),
    ("MAX_OUTPUTS", "1000"),
    ("MAX_OUTPUT_SIDE", "big"),
    ("WEBHOOK_TIMEOUT_SECONDS", "-1"),
    ("WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32,not-a-network"),
])
def test_delivery_settings_are_checked_naming_the_variable(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(dict(BASE, **{name: value}))
