"""Environment -> Settings: defaults, overrides, and errors that name the variable."""

import pytest

from storage import ConfigurationError, Settings

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
    (dict(BASE, S3_ADDRESSING_STYLE="sideways"), "S3_ADDRESSING_STYLE"),
    (dict(BASE, THUMBNAILER_PROCESSES="0"), "THUMBNAILER_PROCESSES"),
    (dict(BASE, THUMBNAILER_THREADS="many"), "THUMBNAILER_THREADS"),
])
def test_bad_settings_name_the_variable(environ, variable):
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env(environ)
