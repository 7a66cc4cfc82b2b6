"""Write the hostile and odd inputs in this folder (run it again to regenerate them; the output is
deterministic). Each file names what it is; tests/test_bad_input.py says what the service must
answer to each. Kept small on purpose: the whole corpus is well under 1 MB.

    .venv/bin/python tests/corpus/make_corpus.py
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 160, height: int = 120) -> Image.Image:
    """A small picture with structure, so that codecs have something to compress."""
    ramp = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp.point(lambda v: 255 - v)))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, rows: bytes, extra_chunks: bytes = b"", bit_depth: int = 8, colour: int = 0,
        compressed: bytes | None = None) -> bytes:
    """A PNG written chunk by chunk, so that any field can lie."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    idat = zlib.compress(rows, 9) if compressed is None else compressed
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra_chunks
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose frame header (SOF0) declares another size."""
    data = bytearray(encode(photo(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def jpeg_with_app1(payload: bytes) -> bytes:
    """A valid JPEG with an APP1 (EXIF) segment holding `payload`, right after SOI."""
    data = encode(photo(), "JPEG")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def bogus_exif() -> bytes:
    """EXIF whose IFD claims 5000 entries, an orientation of 9 and offsets past the end."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 5000)
    tiff += struct.pack(">HHII", 0x0112, 3, 1, 9 << 16)          # Orientation = 9 (no such value)
    tiff += struct.pack(">HHII", 0x8769, 4, 1, 0x7FFFFFF0)       # Exif IFD pointer far past the end
    tiff += struct.pack(">HHII", 0x010F, 2, 0x10000000, 0x7FFFFFF0)  # a 256 MB string, out of range
    return jpeg_with_app1(b"Exif\x00\x00" + tiff)


def many_frame_gif(frames: int = 3000) -> bytes:
    """A 32x32 animation of `frames` one-pixel frames, written by hand to stay ~70 KB."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 32, 32, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    body = []
    for index in range(frames):
        control = b"\x21\xf9\x04\x00" + struct.pack("<H", 1) + b"\x00\x00"  # 10 ms per frame
        descriptor = b"\x2c" + struct.pack("<HHHHB", index % 32, (index // 32) % 32, 1, 1, 0)
        pixel = b"\x02\x02\x4c\x01\x00"  # LZW, 2-bit codes: clear, colour 1, end
        body.append(control + descriptor + pixel)
    return screen + loop + b"".join(body) + b"\x3b"


def many_page_tiff(pages: int = 500) -> bytes:
    first = Image.new("L", (8, 8), 128)
    rest = [Image.new("L", (8, 8), n % 256) for n in range(1, pages)]
    return encode(first, "TIFF", save_all=True, append_images=rest)


def pdf() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>"]
    body, offsets = b"%PDF-1.4\n", []
    for number, content in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return body + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def corpus() -> dict[str, bytes]:
    rng = random.Random(6)
    good_jpeg = encode(photo(), "JPEG", quality=90)
    cmyk = photo().convert("CMYK")
    sixteen = Image.linear_gradient("L").resize((120, 90)).convert("I").point(lambda v: v * 257).convert("I;16")
    rgb16_rows = b"".join(b"\x00" + bytes(rng.getrandbits(8) for _ in range(40 * 6)) for _ in range(30))
    return {
        # not images at all
        "empty.jpg": b"",
        "text.txt": b"just some text, not a picture\n" * 4,
        "page.html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>\n",
        "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                        b'<rect width="10" height="10"/></svg>\n'),
        "document.pdf": pdf(),
        "text-named.jpg": b"GIF? PNG? no: text with an image's name\n",
        "html-named.png": b"<html><body>hello</body></html>\n",
        "random-bytes.bin": bytes(rng.getrandbits(8) for _ in range(2048)),
        # broken or lying images
        "truncated.jpg": good_jpeg[: len(good_jpeg) // 2],
        "truncated-header.png": encode(photo(), "PNG")[:20],
        "huge-declared-size.jpg": jpeg_with_size(65000, 65000),
        "zero-width.jpg": jpeg_with_size(0, 16),
        "bomb.png": png(50000, 50000, b"\x00" * (1 + 50000 // 8) * 8, bit_depth=1),
        "bad-crc.png": encode(photo(), "PNG")[:29] + b"\xde\xad\xbe\xef" + encode(photo(), "PNG")[33:],
        "bad-deflate.png": png(64, 64, b"", compressed=b"not zlib at all"),
        "bogus-exif.jpg": bogus_exif(),
        "bogus-icc.jpg": encode(photo(), "JPEG", icc_profile=b"this is no ICC profile" * 8),
        "bogus-icc.png": png(40, 30, b"\x00" * 41 * 30, png_chunk(b"iCCP", b"bogus\x00\x00" + zlib.compress(b"junk"))),
        "many-frames.gif": many_frame_gif(),
        "many-pages.tiff": many_page_tiff(),
        # odd but legitimate
        "cmyk.jpg": encode(cmyk, "JPEG", quality=90),
        "cmyk.tiff": encode(cmyk, "TIFF", compression="tiff_lzw"),
        "grey-16bit.png": encode(sixteen, "PNG"),
        "grey-16bit.tiff": encode(sixteen, "TIFF"),
        "rgb-16bit.png": png(40, 30, rgb16_rows, bit_depth=16, colour=2),
        "jpeg-named.png": good_jpeg,
    }


def main() -> None:
    files = corpus()
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(files)} files, {sum(map(len, files.values()))} bytes, to {HERE}")


if __name__ == "__main__":
    main()
