"""HTTP connections to the address that was checked, not to whatever DNS answers at connect
time: what keeps a callback or source URL that passed core.callbacks' address policy from
being turned inside by a second DNS answer. Host and TLS (SNI, certificate) still use the name.
Used by webhook delivery and by fetching a source_url.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS verified against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def pinned_connection(url: str, address: str, timeout: float) -> http.client.HTTPConnection:
    """A connection for url's host, made to `address`; `timeout` bounds the connect and, until
    the caller changes the socket's, each read."""
    parts = urlsplit(url)
    pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    return pinned(parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme], address, timeout)


def request_target(url: str) -> str:
    """The path and query to ask url's host for."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
