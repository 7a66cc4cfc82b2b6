"""The inputs beyond the classic six (README, "Inputs"): HEIC/HEIF, AVIF and MPO are rendered,
with the pixel cap checked before decoding; JPEG XL is refused; PNG transparency from tRNS is kept
or flattened; libspng's PNG decode matches Pillow's."""

from __future__ import annotations

import io
import struct
import zlib

import imagecodecs
import numpy
import pillow_heif
import pytest
from PIL import AvifImagePlugin, Image

from core import formats
from core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from core.outputs import OutputSpec
from core.render import render
from tests import images
from thumbnailer.worker import Worker

LOSSLESS = (OutputSpec(format="png"),)


def heic(image: Image.Image) -> bytes:
    return images.heic(image=image)


def avif(image: Image.Image) -> bytes:
    return images.avif(image=image)


@pytest.mark.parametrize("make, opener", [(heic, pillow_heif.HeifImageFile), (avif, AvifImagePlugin.AvifImageFile)])
def test_heif_and_avif_are_rendered_the_right_way_round(make, opener):
    [output] = render(make(images.two_halves(400, 200)))
    thumbnail = images.decode(output.data).convert("RGB")
    assert (output.content_type, thumbnail.size) == ("image/jpeg", (100, 50))
    assert images.colour_distance(thumbnail.getpixel((10, 25)), images.RED) < 40
    assert images.colour_distance(thumbnail.getpixel((90, 25)), images.BLUE) < 40


@pytest.mark.parametrize("make, opener", [(heic, pillow_heif.HeifImageFile), (avif, AvifImagePlugin.AvifImageFile)])
def test_heif_and_avif_pixel_caps_are_checked_before_decoding(make, opener, monkeypatch):
    data = make(images.two_halves(400, 200))

    def no_decode(self):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(opener, "load", no_decode)
    with pytest.raises(ImageTooLarge, match="limit"):
        render(data, max_pixels=400 * 200 - 1)


def test_heif_and_avif_with_alpha_keep_it():
    with_alpha = images.decode(images.png_with_alpha())
    for data in (heic(with_alpha), avif(with_alpha)):
        [output] = render(data)
        thumbnail = images.decode(output.data)
        assert output.content_type == "image/png" and thumbnail.getpixel((50, 0))[3] < 30


@pytest.mark.parametrize("make, decoder", [(heic, "HEIF"), (avif, "AVIF")])
def test_a_cut_heif_or_avif_is_not_complete(make, decoder):
    data = make(images.two_halves(400, 200))
    assert formats.is_complete(io.BytesIO(data), decoder, len(data))
    cut = data[: len(data) * 2 // 3]
    assert not formats.is_complete(io.BytesIO(cut), decoder, len(cut))
    with pytest.raises(CorruptImage):
        render(cut)


def test_mpo_renders_its_first_image_and_is_whole():
    data = images.mpo()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert formats.is_complete(io.BytesIO(data), "MPO", len(data))
    [output] = render(data)
    thumbnail = images.decode(output.data).convert("RGB")
    assert images.colour_distance(thumbnail.getpixel((10, 25)), images.RED) < 40
    assert images.colour_distance(thumbnail.getpixel((90, 25)), images.BLUE) < 40


def test_jpeg_xl_is_refused_as_unsupported():
    data = imagecodecs.jpegxl_encode(numpy.zeros((64, 64, 3), numpy.uint8))
    with pytest.raises(UnsupportedImage, match="accepted formats"):
        render(data)


def test_the_unsupported_message_names_the_new_inputs():
    for name in ("HEIF", "AVIF", "MPO"):
        assert name in formats.UNSUPPORTED_MESSAGE


# -- PNG tRNS: a transparent colour on an RGB, greyscale or palette image --------------------------

def trns_png(mode: str) -> bytes:
    """Left half a colour marked transparent by tRNS, right half opaque."""
    source = images.two_halves(200, 100)
    if mode == "RGB":
        return images.encode(source, "PNG", transparency=images.RED)
    if mode == "L":
        grey = source.convert("L")
        return images.encode(grey, "PNG", transparency=grey.getpixel((0, 0)))
    palette = source.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return images.encode(palette, "PNG", transparency=palette.getpixel((0, 0)))


@pytest.mark.parametrize("mode", ["RGB", "L", "P"])
@pytest.mark.parametrize("image_format", ["auto", "png", "webp", "avif"])
def test_trns_transparency_is_kept(mode, image_format):
    if image_format not in formats.supported_formats():
        pytest.skip(f"this Pillow cannot write {image_format}")
    [output] = render(trns_png(mode), (OutputSpec(100, 50, image_format),))
    thumbnail = images.decode(output.data).convert("RGBA")
    assert thumbnail.getpixel((10, 25))[3] < 10, "the tRNS colour is transparent"
    assert thumbnail.getpixel((90, 25))[3] > 245, "the other colour is opaque"


@pytest.mark.parametrize("mode", ["RGB", "L", "P"])
def test_trns_transparency_is_flattened_onto_white_in_jpeg(mode):
    [output] = render(trns_png(mode), (OutputSpec(100, 50, "jpeg"),))
    thumbnail = images.decode(output.data).convert("RGB")
    assert images.colour_distance(thumbnail.getpixel((10, 25)), (255, 255, 255)) < 10
    assert images.colour_distance(thumbnail.getpixel((90, 25)), (255, 255, 255)) > 100


# -- PNG through libspng: the same pixels as Pillow's decoder ---------------------------------------

@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize("interlace", [False, True])
def test_spng_decodes_what_pillow_decodes(mode, interlace, monkeypatch):
    source = images.two_halves(300, 200, mode)
    data = images.encode(source, "PNG") if not interlace else png_interlaced(source)
    calls = []
    real = imagecodecs.spng_decode
    monkeypatch.setattr(imagecodecs, "spng_decode", lambda data: calls.append(1) or real(data))
    [output] = render(data, LOSSLESS)
    ours = images.decode(output.data)
    assert calls == [1] and ours.mode == mode
    reference = source.resize(ours.size, Image.Resampling.LANCZOS)
    assert ours.tobytes() == reference.tobytes()


def png_interlaced(image: Image.Image) -> bytes:
    """Adam7-interlaced PNG (Pillow writes none), by libpng through imagecodecs... which lacks a
    flag for it too; so the rows are laid out here, filter type 0 for every row."""
    pixels = numpy.asarray(image)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    height, width = pixels.shape[:2]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    colour = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def test_an_exif_orientation_after_the_pixels_is_applied():
    """An eXIf chunk may follow IDAT; libspng's path finds it without Pillow's decode."""
    data = images.encode(images.two_halves(400, 200), "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: the red half ends up on top
    body = exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif") else exif.tobytes()
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    iend = data.rindex(b"IEND") - 4
    data = data[:iend] + chunk + data[iend:]
    assert "exif" not in Image.open(io.BytesIO(data)).info  # not seen before the pixels
    [output] = render(data)
    thumbnail = images.decode(output.data).convert("RGB")
    assert thumbnail.size == (50, 100)
    assert images.colour_distance(thumbnail.getpixel((25, 10)), images.RED) < 40


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_a_png_libspng_refuses_is_judged_by_pillow_as_corrupt(damage):
    data = bytearray(images.encode(images.two_halves(300, 200), "PNG", compress_level=0))
    if damage == "flipped":
        data[len(data) // 2] ^= 0xFF  # inside IDAT: its CRC no longer matches
    else:
        data = data[: len(data) // 2] + data[-12:]  # half the pixels, then IEND
    with pytest.raises(CorruptImage):
        render(bytes(data))


def test_pillow_still_decodes_what_libspng_does_not(monkeypatch):
    """Palette, 16-bit and grey+alpha PNGs go to Pillow (libspng lacks those layouts or tRNS)."""
    monkeypatch.setattr(imagecodecs, "spng_decode", lambda data: pytest.fail("libspng was asked"))
    for source in (images.two_halves(200, 100).convert("P"), Image.new("I;16", (200, 100), 40000),
                   images.two_halves(200, 100, "LA")):
        [output] = render(images.encode(source, "PNG"))
        assert (output.width, output.height) == (100, 50)


@pytest.mark.parametrize("make, filename, content_type", [
    (images.heic, "IMG_0001.HEIC", "image/heif"), (images.avif, "photo.avif", "image/avif"),
    (images.mpo, "stereo.mpo", "image/mpo")])
def test_new_inputs_round_trip_through_the_api_and_worker(client, backends, settings, make, filename, content_type):
    """Submitted over the api on the embedded backends, rendered by a worker, downloaded."""
    if content_type == "image/avif" and "AVIF" not in formats.DECODERS:
        pytest.skip("this Pillow reads no AVIF")
    response = client.post("/jobs", data={"image": (io.BytesIO(make(400, 200)), filename)},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    assert backends.jobs.load_input(job_id).content_type == content_type
    Worker(backends, settings).work(burst=True)
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "complete"
    thumbnail = images.decode(client.get(f"/jobs/{job_id}/thumbnail").data).convert("RGB")
    assert thumbnail.size == (100, 50)
    assert images.colour_distance(thumbnail.getpixel((10, 25)), images.RED) < 40
