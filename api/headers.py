"""Security headers on every answer: the upload page may load only its own files; nothing is
framed, sniffed into another type, or sent a Referer."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

# The page loads static/app.js and static/style.css and shows thumbnails by their signed URLs
# (on the api itself, or under PUBLIC_URL: {public}), or as blob: URLs made from authenticated
# fetches once those expired; it posts to the api itself.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{public} blob: data:; "
               "connect-src 'self'{public}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Everything else is JSON or an image: it needs to load nothing.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask, public_url: str = "") -> None:
    parts = urlsplit(public_url)
    page_policy = PAGE_POLICY.format(public=f" {parts.scheme}://{parts.netloc}" if public_url else "")

    @app.after_request
    def secure(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        is_page = response.mimetype in ("text/html", "text/css", "text/javascript", "application/javascript")
        response.headers.setdefault("Content-Security-Policy", page_policy if is_page else API_POLICY)
        return response
