"""A local HTTP server to fetch source_url images from (on 127.0.0.1, which the tests allow by
SOURCE_ALLOW_NETWORKS), with the misbehaving answers a real origin may give."""

from __future__ import annotations

import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests import images

SHUTDOWN_POLL_SECONDS = 0.05
TRICKLE_SECONDS = 0.2  # /slow sends one byte this often


class SourceServer:
    """Paths: /image.jpg, /text, /missing (404), /redirect/N (N hops, then the image), /loop
    (redirects to itself), /big (declares `big_bytes`), /big-undeclared (sends them without a
    Content-Length), /slow (a byte every TRICKLE_SECONDS), /forbidden (a redirect to an
    internal address), /flaky (503 `flaky_failures` times, then the image)."""

    def __init__(self, image: bytes | None = None, big_bytes: int = 200_000, flaky_failures: int = 1,
                 host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None):
        """tls: (certificate, key) files to serve https with."""
        self.image = image if image is not None else images.jpeg(400, 200)
        self.big_bytes = big_bytes
        self.flaky_left = flaky_failures
        self.requests: list[str] = []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                path = self.path
                if path == "/image.jpg":
                    self._send(200, server.image, "image/jpeg")
                elif path == "/text":
                    self._send(200, b"this is not an image\n", "text/plain")
                elif path.startswith("/redirect/"):
                    hops = int(path.rsplit("/", 1)[1])
                    self._redirect("/image.jpg" if hops <= 1 else f"/redirect/{hops - 1}")
                elif path == "/loop":
                    self._redirect("/loop")
                elif path == "/big":
                    self.send_response(200)
                    self.send_header("Content-Length", str(server.big_bytes))
                    self.end_headers()
                    self.wfile.write(server.image[:1024])
                elif path == "/big-undeclared":  # HTTP/1.0: the body ends when the connection closes
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(server.image + b"\0" * server.big_bytes)
                elif path == "/slow":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.image)))
                    self.end_headers()
                    for byte in server.image:
                        if server._stopping.wait(TRICKLE_SECONDS):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                elif path == "/forbidden":
                    self._redirect("http://169.254.169.254/latest/meta-data/")
                elif path == "/flaky" and server.flaky_left > 0:
                    server.flaky_left -= 1
                    self._send(503, b"busy", "text/plain")
                elif path == "/flaky":
                    self._send(200, server.image, "image/jpeg")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SourceServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()



def self_signed(folder: Path, subject_alt_name: str) -> tuple[Path, Path]:
    """A certificate and key (openssl) for e.g. "IP:127.0.0.1"; trusted where SSL_CERT_FILE names it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=thumbnails-test", "-addext",
                    f"subjectAltName={subject_alt_name}"], check=True, capture_output=True)
    return cert, key
