"""Small images made on the fly for tests (the benchmark corpus is for benchmarks only)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

RED = (220, 20, 20)
BLUE = (20, 20, 220)

# For each EXIF orientation: where the red half of a wide red|blue image ends up once
# displayed upright, and the displayed shape (orientations 5-8 swap width and height).
ORIENTATIONS = {
    1: ("left", (100, 50)), 2: ("right", (100, 50)), 3: ("right", (100, 50)), 4: ("left", (100, 50)),
    5: ("top", (50, 100)), 6: ("top", (50, 100)), 7: ("bottom", (50, 100)), 8: ("bottom", (50, 100)),
}


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def two_halves(width: int = 400, height: int = 200, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: orientation can be read back from the colours."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image.convert(mode)


def jpeg(width: int = 400, height: int = 200, orientation: int | None = None, mode: str = "RGB") -> bytes:
    options = {"quality": 90}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    return encode(two_halves(width, height, mode), "JPEG", **options)


def heic(width: int = 400, height: int = 200, image: Image.Image | None = None) -> bytes:
    """An iPhone-style HEIC (pillow-heif registers its writer with core.formats' import)."""
    import core.formats  # noqa: F401  (registers HEIF with Pillow)

    return encode(image or two_halves(width, height), "HEIF", quality=90)


def avif(width: int = 400, height: int = 200, image: Image.Image | None = None) -> bytes:
    return encode(image or two_halves(width, height), "AVIF", quality=90)


def mpo(width: int = 400, height: int = 200) -> bytes:
    """A camera's two-image MPO: red|blue first, then a plain green image."""
    second = Image.new("RGB", (width, height), (0, 200, 0))
    return encode(two_halves(width, height), "MPO", save_all=True, append_images=[second])


def png_with_alpha(width: int = 300, height: int = 150) -> bytes:
    image = two_halves(width, height, "RGBA")
    image.putalpha(Image.linear_gradient("L").resize((width, height)))
    return encode(image, "PNG")


def palette_gif(width: int = 250, height: int = 250) -> bytes:
    return encode(two_halves(width, height).convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "GIF")


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG that declares a huge canvas: a decompression bomb caught from the header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def slow_png(side: int = 8000) -> bytes:
    """A large, highly compressible PNG: a few hundred KB to upload, but the whole canvas is
    decoded, so its render takes long enough (tenths of a second) to catch a thumbnailer in it."""
    ramp = Image.linear_gradient("L").resize((side, side))
    image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.ROTATE_90),
                                ramp.transpose(Image.Transpose.ROTATE_180)))
    return encode(image, "PNG")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def colour_distance(a, b) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5


# Display P3's primaries adapted to D50 (the ICC connection space), as Apple's profile has them.
P3_COLORANTS = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
_D50 = (0.9642, 1.0, 0.8249)


def wide_gamut_profile(gamma: float = 2.2) -> bytes:
    """A small ICC v2 display profile with Display P3's primaries and a plain gamma curve: a wide
    gamut input's colours, made here rather than shipped (LittleCMS reads it like any other)."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(value) for value in values)

    text = b"wide gamut test profile\0"
    tags = {
        b"desc": b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * (4 + 4 + 2 + 1 + 67),
        b"wtpt": xyz(_D50),
        b"rXYZ": xyz(P3_COLORANTS[0]), b"gXYZ": xyz(P3_COLORANTS[1]), b"bXYZ": xyz(P3_COLORANTS[2]),
        b"rTRC": b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0",
        b"cprt": b"text\0\0\0\0" + b"no copyright, test data\0",
    }
    tags[b"gTRC"] = tags[b"bTRC"] = tags[b"rTRC"]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags.items():
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + b"".join(s15(value) for value in _D50) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
