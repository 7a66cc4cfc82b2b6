"""What gunicorn answers by itself, before the app sees a request: JSON like every other error.

gunicorn writes its own 400/414/431/... answers (a malformed request line, a line longer than
limit_request_line, too many or too large header fields) as a small HTML page through
`gunicorn.util.write_error`. gunicorn.conf.py installs `write_json_error` in its place, so a
client gets the same `{"error", "message"}` shape the app uses. The message gunicorn passes
may quote the client's own bytes: it is cut to MAX_MESSAGE_CHARS.
"""

from __future__ import annotations

import json

MAX_MESSAGE_CHARS = 200


def json_error_response(status_int: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 response (status line, headers, body) that closes the connection."""
    shown = message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"
    body = json.dumps({"error": reason, "message": shown or reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for gunicorn.util.write_error (same signature)."""
    from gunicorn.util import write_nonblock

    write_nonblock(sock, json_error_response(status_int, reason, str(mesg)))


def install() -> None:
    """Replace gunicorn's HTML error writer; workers forked afterwards inherit it."""
    from gunicorn import util

    util.write_error = write_json_error
