"""Image-format knowledge (core/formats.py): names, aliases, extensions and the truncation check."""

import io

import pytest
from PIL import features

from core import formats
from tests import images


@pytest.mark.parametrize("name, expected", [("jpg", "jpeg"), ("JPG", "jpeg"), ("Jpeg", "jpeg"), ("webp", "webp"),
                                            ("gif", "gif")])
def test_request_names_are_canonical(name, expected):
    assert formats.canonical(name) == expected


def test_every_output_format_is_named_in_every_table():
    written = set(formats.OUTPUT_FORMATS) - {formats.AUTO}
    for table in (formats.PIL_NAMES, formats.CONTENT_TYPES, formats.EXTENSIONS):
        assert set(table) == written
    assert set(formats.DEFAULT_QUALITY) | {"png", "gif"} == written


def test_avif_is_offered_only_where_pillow_writes_it():
    assert ("avif" in formats.supported_formats()) == features.check("avif")
    assert {formats.AUTO, "jpeg", "png"} <= set(formats.supported_formats())


@pytest.mark.parametrize("content_type, extension", [("image/jpeg", ".jpg"), ("image/png", ".png"),
                                                     ("image/webp", ".webp"), ("image/avif", ".avif"),
                                                     ("application/octet-stream", ".img")])
def test_a_downloaded_output_gets_its_extension(content_type, extension):
    assert formats.extension_for(content_type) == extension


@pytest.mark.parametrize("decoder", ["JPEG", "PNG", "GIF", "WEBP"])
def test_a_whole_file_is_complete_and_a_cut_one_is_not(decoder):
    data = images.encode(images.two_halves(200, 100), decoder)
    assert formats.is_complete(io.BytesIO(data), decoder, len(data))
    cut = data[: len(data) * 2 // 3]
    assert not formats.is_complete(io.BytesIO(cut), decoder, len(cut))


def test_the_unsupported_message_names_every_decoder():
    assert formats.UNSUPPORTED_MESSAGE.startswith("not a supported image")
    assert all(decoder in formats.UNSUPPORTED_MESSAGE for decoder in formats.DECODERS)
