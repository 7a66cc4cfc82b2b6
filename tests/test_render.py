"""The render function with its default output: size, modes, orientation, quality, refusals."""

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from core.render import open_image, render
from tests import images
from tests.images import ORIENTATIONS


def test_fits_inside_the_box_keeping_aspect():
    [result] = render(images.jpeg(400, 200))
    assert (result.width, result.height) == (100, 50)
    assert result.content_type == "image/jpeg"
    assert images.decode(result.data).size == (100, 50)


def test_small_images_are_not_enlarged():
    [result] = render(images.jpeg(60, 30))
    assert (result.width, result.height) == (60, 30)


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_every_exif_orientation_is_applied(orientation):
    side, size = ORIENTATIONS[orientation]
    thumbnail = images.decode(render(images.jpeg(400, 200, orientation=orientation))[0].data).convert("RGB")
    assert thumbnail.size == size
    w, h = thumbnail.size
    probes = {"left": (w // 5, h // 2), "right": (w - w // 5, h // 2),
              "top": (w // 2, h // 5), "bottom": (w // 2, h - h // 5)}
    assert images.colour_distance(thumbnail.getpixel(probes[side]), images.RED) < 60


@pytest.mark.parametrize("mode, fmt, expected_type, expected_mode", [
    ("RGB", "PNG", "image/jpeg", "RGB"),
    ("RGBA", "PNG", "image/png", "RGBA"),
    ("LA", "PNG", "image/png", "LA"),
    ("L", "JPEG", "image/jpeg", "L"),
    ("CMYK", "JPEG", "image/jpeg", "RGB"),
    ("P", "GIF", "image/jpeg", "RGB"),
    ("1", "BMP", "image/jpeg", "L"),
    ("I;16", "PNG", "image/jpeg", "L"),
    ("YCbCr", "TIFF", "image/jpeg", "RGB"),
])
def test_input_modes(mode, fmt, expected_type, expected_mode):
    source = images.two_halves(300, 200).convert("L" if mode in ("1", "I;16") else "RGB")
    if mode == "I;16":
        source = Image.eval(source, lambda v: v).convert("I").point(lambda v: v * 257).convert("I;16")
    else:
        source = source.convert(mode)
    [result] = render(images.encode(source, fmt))
    thumbnail = images.decode(result.data)
    assert (result.content_type, thumbnail.mode, thumbnail.size) == (expected_type, expected_mode, (100, 67))


def test_sixteen_bit_greyscale_keeps_its_brightness():
    source = Image.new("I;16", (200, 200), 40000)  # 40000/65535 of full scale
    thumbnail = images.decode(render(images.encode(source, "PNG"))[0].data)
    assert abs(thumbnail.getpixel((50, 50)) - 40000 / 257) < 3


def test_transparent_palette_keeps_alpha():
    source = images.two_halves(200, 200).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    source.info["transparency"] = source.getpixel((0, 0))
    [result] = render(images.encode(source, "PNG", transparency=source.getpixel((0, 0))))
    thumbnail = images.decode(result.data)
    assert result.content_type == "image/png" and thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((10, 50))[3] == 0 and thumbnail.getpixel((90, 50))[3] == 255


def test_alpha_is_kept_from_rgba_png():
    thumbnail = images.decode(render(images.png_with_alpha())[0].data)
    assert thumbnail.mode == "RGBA"
    alpha = thumbnail.getchannel("A")
    assert alpha.getpixel((0, 0)) < 10 and alpha.getpixel((99, 0)) < 10  # top of the gradient
    assert alpha.getpixel((0, 49)) > 240


def test_quality_close_to_a_full_decode_lanczos_reference():
    # A photo-like source: smooth gradients plus detail, saved losslessly.
    base = Image.merge("RGB", [Image.linear_gradient("L").resize((1200, 900)),
                               Image.radial_gradient("L").resize((1200, 900)),
                               Image.effect_noise((1200, 900), 40)])
    data = images.encode(base, "PNG")
    ours = images.decode(render(data)[0].data).convert("RGB")
    reference = base.resize(ours.size, Image.Resampling.LANCZOS)
    mean_difference = sum(ImageStat.Stat(ImageChops.difference(ours, reference)).mean) / 3
    assert mean_difference < 3.0


def test_pixel_cap_refuses_before_decoding():
    data = images.png_bomb(30000, 30000)
    with pytest.raises(ImageTooLarge, match="limit"):
        render(data, max_pixels=40_000_000)


def test_configured_cap_applies_to_ordinary_images():
    with pytest.raises(ImageTooLarge):
        render(images.jpeg(400, 200), max_pixels=400 * 200 - 1)


@pytest.mark.parametrize("data", [b"", b"hello, world\n" * 20, b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                  b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"])
def test_non_images_are_unsupported(data):
    with pytest.raises(UnsupportedImage):
        render(data)


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PPM", "PCX"])
def test_formats_outside_the_allow_list_are_refused(fmt):
    data = images.encode(images.two_halves(64, 64), fmt)
    assert Image.open(io.BytesIO(data)).format  # Pillow itself could read it...
    with pytest.raises(UnsupportedImage):
        open_image(data)  # ...but we do not let it.


def test_truncated_jpeg_is_corrupt():
    data = images.jpeg(800, 600)
    with pytest.raises(CorruptImage):
        render(data[: len(data) // 2])


@pytest.mark.parametrize("size", [(320, 200), (300, 200), (1920, 1080), (1000, 99), (99, 1000), (333, 777)])
def test_the_long_side_is_exactly_the_box(size):
    thumbnail = images.decode(render(images.jpeg(*size))[0].data)
    assert max(thumbnail.size) == 100
    assert abs(thumbnail.width / thumbnail.height - size[0] / size[1]) < 0.03 * size[0] / size[1] + 0.05
