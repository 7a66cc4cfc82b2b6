"""api/forms.py: multipart bodies read in one pass give werkzeug's form and files, with each
file's CRC32 taken on the way (what the upload to S3 sends instead of computing it again)."""

from __future__ import annotations

import io
import zlib

import pytest
from flask import Flask, request

from api.forms import CHUNK_BYTES, UploadRequest

BOUNDARY = "b0undary-7d1f"


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def parsed(raw: bytes):
    app = Flask(__name__)
    app.request_class = UploadRequest
    with app.test_request_context("/", method="POST", input_stream=io.BytesIO(raw), content_length=len(raw),
                                  content_type=f"multipart/form-data; boundary={BOUNDARY}"):
        return request.form.to_dict(flat=False), {name: [(f.filename, f.stream.read(), f.stream.crc32)
                                                         for f in files]
                                                  for name, files in request.files.to_dict(flat=False).items()}


def test_fields_and_a_file_larger_than_a_chunk_with_its_crc32():
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256) + b"\r\n--b0undary-7d1e tail"  # near-misses of the boundary
    form, files = parsed(body(("priority", None, b"high"), ("image", "a.jpg", data), ("size", None, b"64")))
    assert form == {"priority": ["high"], "size": ["64"]}
    assert files == {"image": [("a.jpg", data, zlib.crc32(data))]}


@pytest.mark.parametrize("raw", [body(("image", "a.jpg", b"x" * 100))[:-20], b"not multipart at all"],
                         ids=["truncated", "garbage"])
def test_a_malformed_body_reads_as_an_empty_form(raw):
    assert parsed(raw) == ({}, {})
