"""Security headers on every answer: the upload page may load only its own files; nothing is
framed, sniffed into another type, or sent a Referer."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

# The page loads static/app.js and static/style.css and shows thumbnails by their signed URLs
# (on the api itself, under PUBLIC_URL or on S3 with SIGNED_URLS=s3: the {images} origins), or
# as blob: URLs made from authenticated fetches once those expired; it posts to the api itself.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{images} blob: data:; "
               "connect-src 'self'{images}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Everything else is JSON or an image: it needs to load nothing.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask, image_urls: tuple[str, ...] = ()) -> None:
    """image_urls: URLs on the origins, besides the api's own, that the page's images come from."""
    origins = dict.fromkeys(f" {parts.scheme}://{parts.netloc}" for parts in map(urlsplit, image_urls) if parts.netloc)
    page_policy = PAGE_POLICY.format(images="".join(origins))

    @app.after_request
    def secure(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        is_page = response.mimetype in ("text/html", "text/css", "text/javascript", "application/javascript")
        response.headers.setdefault("Content-Security-Policy", page_policy if is_page else API_POLICY)
        return response
