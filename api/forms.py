"""multipart/form-data read in one pass: each file part is spooled and its CRC32 taken as it
arrives, so the upload to S3 needs no second pass over it (S3ObjectStore.put sends the checksum).

werkzeug's own decoder costs about 3.5 ms of CPU per MB of upload (a regular-expression search
over every chunk); the `multipart` library's push parser about 0.4 (bench/hotpath.py). What the
app sees is unchanged: `request.form` and `request.files`, the same limits (MAX_FORM_PARTS parts,
MAX_FORM_MEMORY_BYTES of text fields: `413` past them), and a malformed body reads as an empty
form, as werkzeug's silent parser gives it.
"""

from __future__ import annotations

import tempfile
import zlib
from typing import IO

import multipart
from flask import Request
from werkzeug.datastructures import FileStorage, Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

# Uploads larger than this spill from memory to a temporary file.
SPOOL_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024
# The text encodings werkzeug accepts for a part; anything else is read as UTF-8.
_CHARSETS = {"ascii", "us-ascii", "utf-8", "iso-8859-1"}


class Spool(tempfile.SpooledTemporaryFile):
    """A bounded buffer that spills to disk, keeping the CRC32 of what was written."""

    def __init__(self) -> None:
        super().__init__(max_size=SPOOL_BYTES)
        self.crc32 = 0

    def write(self, data) -> int:
        self.crc32 = zlib.crc32(data, self.crc32)
        return super().write(data)


class OnePassFormParser(FormDataParser):
    """werkzeug's form parser, with multipart bodies read by `multipart`."""

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]):
        boundary = options.get("boundary", "").encode("latin-1")
        if not boundary:
            raise ValueError("Missing boundary")
        fields: list[tuple[str, str]] = []
        files: list[tuple[str, FileStorage]] = []
        text_bytes = parts = 0
        segment = None
        container: bytearray | Spool = bytearray()
        with multipart.PushMultipartParser(boundary, -1 if content_length is None else content_length) as parser:
            while not parser.closed:
                chunk = stream.read(CHUNK_BYTES)
                for event in parser.parse(chunk):
                    if isinstance(event, multipart.MultipartSegment):
                        parts += 1
                        if self.max_form_parts is not None and parts > self.max_form_parts:
                            raise RequestEntityTooLarge()
                        segment, container = event, (bytearray() if event.filename is None else Spool())
                    elif event is None:  # the end of the segment
                        if segment is not None:
                            _finish(segment, container, fields, files)
                    elif isinstance(container, Spool):
                        container.write(event)
                    else:
                        text_bytes += len(event)
                        if self.max_form_memory_size is not None and text_bytes > self.max_form_memory_size:
                            raise RequestEntityTooLarge()
                        container.extend(event)
                if not chunk:
                    break
        return stream, self.cls(fields), self.cls(files)


def _finish(segment: multipart.MultipartSegment, container: bytearray | Spool,
            fields: list[tuple[str, str]], files: list[tuple[str, FileStorage]]) -> None:
    name = segment.name or ""
    if isinstance(container, bytearray):
        charset = (segment.charset or "utf-8").lower()
        fields.append((name, container.decode(charset if charset in _CHARSETS else "utf-8", "replace")))
        return
    container.seek(0)
    files.append((name, FileStorage(container, segment.filename, name, headers=Headers(segment.headerlist))))


class UploadRequest(Request):
    form_data_parser_class = OnePassFormParser
