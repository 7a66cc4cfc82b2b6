"""A small HTTP client for the api, on the standard library (urllib): no extra dependency."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

from core.errors import ThumbnailsError

REQUEST_TIMEOUT_SECONDS = 30


class ClientError(ThumbnailsError):
    """The api could not be asked, or it said no."""


class Unreachable(ClientError):
    """Nothing answers at the api's URL (wrong URL, service not running, network down)."""


class ApiError(ClientError):
    """The api answered with an error status; the message is the api's own."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: the API key would go along to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise ApiError(code, f"the api answered {code} redirecting to {newurl[:200]}; not followed (the API key "
                             "would be sent there): use the final URL as --url")


_OPENER = urllib.request.build_opener(_RefuseRedirects)
_PLAIN = urllib.request.build_opener()  # for signed URLs: no key goes along, so redirects may be followed


class ApiClient:
    def __init__(self, base_url: str, key: str | None = None, timeout: float = REQUEST_TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def submit(self, filename: str, data: bytes, fields: dict[str, str] | None = None) -> dict:
        """Upload an image as the multipart field `image`, with any form fields (output,
        priority, callback_url); return the accepted job."""
        boundary = secrets.token_hex(16)
        body = _multipart(boundary, "image", filename, data, fields or {})
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._job_document(self._request("POST", "/jobs", body, headers)[0])

    def submit_source(self, fields: dict[str, str]) -> dict:
        """Submit a job whose image the service fetches itself (source_url or source in
        `fields`, with any other options), as form fields; return the accepted job."""
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._job_document(self._request("POST", "/jobs", body, headers)[0])

    def job(self, job_id: str) -> dict:
        return self._job_document(self._request("GET", f"/jobs/{quote(job_id, safe='')}")[0])

    def jobs(self, **filters) -> dict:
        """One page of the caller's jobs: {"jobs": [...], "next": cursor or None}."""
        query = urlencode({name: value for name, value in filters.items() if value is not None}, doseq=True)
        return self._json(self._request("GET", "/jobs" + (f"?{query}" if query else ""))[0])

    def cancel(self, job_id: str) -> dict | None:
        """The cancelled job, or None when a finished job was deleted (204)."""
        body, _ = self._request("DELETE", f"/jobs/{quote(job_id, safe='')}")
        return self._job_document(body) if body else None

    def output(self, job_id: str, index: int) -> tuple[bytes, str]:
        return self._request("GET", f"/jobs/{quote(job_id, safe='')}/outputs/{int(index)}")

    def download(self, job: dict, index: int) -> tuple[bytes, str]:
        """Output `index` of a job document: by its signed URL when it has one (no key is sent,
        so it may point anywhere: a CDN, PUBLIC_URL), else by the output route with the key."""
        outputs = job.get("outputs") or []
        signed = outputs[index].get("signed_url") if 0 <= index < len(outputs) else None
        if not signed:
            return self.output(job["id"], index)
        return self._fetch(urllib.request.Request(signed), _PLAIN)

    def _json(self, body: bytes) -> dict:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ClientError(f"{self.base_url} did not answer with JSON; is it a thumbnails api?")
        return document

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[bytes, str]:
        url = self.base_url + path
        headers = dict(headers or {})
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        return self._fetch(urllib.request.Request(url, data=body, headers=headers, method=method), _OPENER)

    def _fetch(self, request: urllib.request.Request, opener: urllib.request.OpenerDirector) -> tuple[bytes, str]:
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, _error_message(error)) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"cannot reach the api at {self.base_url}: {reason}") from None


    def _job_document(self, body: bytes) -> dict:
        """The job, or a clear error when something else answers at the URL."""
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not {"id", "status"} <= document.keys():
            raise ClientError(f"{self.base_url} did not answer with a job; is it a thumbnails api?")
        return document


def _error_message(error: urllib.error.HTTPError) -> str:
    """The api's JSON message when there is one, else the HTTP reason."""
    try:
        document = json.loads(error.read())
        return str(document.get("message") or document.get("error") or error.reason)
    except (ValueError, AttributeError, OSError):
        return f"{error.code} {error.reason}"


def _multipart(boundary: str, field: str, filename: str, data: bytes, fields: dict[str, str]) -> bytes:
    safe_name = filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts = [(f"--{boundary}\r\n"
              f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
             for name, value in fields.items()]
    head = (f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return b"".join(parts) + head + data + f"\r\n--{boundary}--\r\n".encode()
