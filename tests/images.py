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
