"""What a submission asks for besides an uploaded image: outputs, priority, callback_url,
url_ttl_seconds, and where the image comes from when it is not uploaded (source_url or source).

Each may come as a multipart form field (or, for `output`, a JSON file part) or as a query
parameter. `output` is JSON (an object or a list of them); for a single output the query
shorthand `format=`, `size=`, `fit=`, `quality=`, `background=`, `animated=` works too. A JSON
request body (`options_from_json`) carries the same options as keys of one object, `output` (or
`outputs`) as JSON itself.

Every value is read only up to its limit (MAX_OPTION_BYTES) and refused past it, before it is
decoded or parsed: a 44 MB file part named `output` costs a bounded read, not a gigabyte.
"""

from __future__ import annotations

import dataclasses
import re

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from core import priorities
from core.callbacks import MAX_URL_LENGTH, check_callback_url
from core.errors import CallbackRefused, InvalidOption, quoted
from core.formats import supported_formats
from core.outputs import DEFAULT_OUTPUTS, OutputSpec, outputs_from_document, parse_outputs, strict_json
from core.settings import Settings
from core.sources import MAX_SOURCE_CHARS, parse_object_source

SHORTHAND = ("format", "size", "fit", "quality", "background", "animated")
# The keys a JSON body's job may have (`outputs` is another name for `output`).
JSON_KEYS = ("source_url", "source", "output", "outputs", "priority", "callback_url", "url_ttl_seconds")
# The options given as one text each (a form field, a query parameter or a JSON key).
TEXT_KEYS = ("priority", "callback_url", "url_ttl_seconds", "source_url", "source")
# The most bytes read of each option: 8 outputs as JSON take well under 2 KB.
MAX_OPTION_BYTES = {"output": 16 * 1024, "callback_url": MAX_URL_LENGTH, "source_url": MAX_URL_LENGTH,
                    "source": MAX_SOURCE_CHARS * 4}
MAX_SHORT_OPTION_BYTES = 64  # format, size, fit, quality, background, animated, priority, url_ttl_seconds
# Werkzeug's own bounds on the multipart form, which cover text fields but not file parts. Its
# multipart decoder also applies the memory bound to each chunk it reads (64 KiB) plus what it
# still holds, file parts included: the bound must stay well above that, or every upload larger
# than about 64 KiB is refused with 413 (tests/test_api.py sends a 1 MB one).
MAX_FORM_MEMORY_BYTES = 256 * 1024
MAX_FORM_PARTS = 16
_QUALITY = re.compile(r"[0-9]{1,3}", re.ASCII)
_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)


@dataclasses.dataclass(frozen=True)
class Options:
    outputs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS
    priority: str = priorities.DEFAULT
    callback_url: str | None = None
    url_ttl_seconds: int | None = None
    source_url: str | None = None
    source: str | None = None  # "s3://bucket/key"

    @property
    def has_source(self) -> bool:
        return self.source_url is not None or self.source is not None


def read_options(request: Request, settings: Settings) -> Options:
    """Parse and check everything; raise InvalidOption naming the bad field (the api answers 400)."""
    texts = {key: _single(request, key) for key in TEXT_KEYS}
    return _checked(_outputs(request, settings), texts, settings)


def options_from_json(document: object, settings: Settings, field: str = "") -> Options:
    """One job of a JSON body: an object with the keys JSON_KEYS; errors name `field.key`."""
    prefix = f"{field}." if field else ""
    if not isinstance(document, dict):
        raise InvalidOption(field or "body", "must be a JSON object")
    unknown = sorted(set(document) - set(JSON_KEYS))
    if unknown:
        raise InvalidOption(prefix + quoted(unknown[0]), f"unknown key; use {', '.join(JSON_KEYS)}")
    if "output" in document and "outputs" in document:
        raise InvalidOption(prefix + "outputs", "give output or outputs, not both")
    name = "outputs" if "outputs" in document else "output"
    outputs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS
    if name in document:
        outputs = outputs_from_document(document[name], settings.max_outputs, settings.max_output_side,
                                        supported_formats(), prefix + name)
    texts = {}
    for key in TEXT_KEYS:
        value = document.get(key)
        if key == "url_ttl_seconds" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            wanted = "a whole number" if key == "url_ttl_seconds" else "a string"
            raise InvalidOption(prefix + key, f"must be {wanted}")
        texts[key] = value
    try:
        return _checked(outputs, texts, settings)
    except InvalidOption as error:
        raise InvalidOption(prefix + error.field, str(error).split(": ", 1)[1]) from None


def _checked(outputs: tuple[OutputSpec, ...], texts: dict[str, str | None], settings: Settings) -> Options:
    """The options from their texts (TEXT_KEYS, None where not given), each checked."""
    if texts["source_url"] is not None and texts["source"] is not None:
        raise InvalidOption("source", "give source_url or source, not both")
    return Options(outputs, _priority(texts["priority"]), _callback_url(texts["callback_url"], settings),
                   _url_ttl_seconds(texts["url_ttl_seconds"], settings),
                   _source_url(texts["source_url"], settings), _source(texts["source"], settings))


def _single(request: Request, name: str) -> str | None:
    """A field given once, in the form or the query (not both, not twice), at most its limit long."""
    limit = MAX_OPTION_BYTES.get(name, MAX_SHORT_OPTION_BYTES)
    values = [value.encode("utf-8", "surrogateescape") for value in request.args.getlist(name)]
    values += [value.encode("utf-8", "surrogateescape") for value in request.form.getlist(name)]
    values += [part.stream.read(limit + 1) for part in request.files.getlist(name)]
    if len(values) > 1:
        raise InvalidOption(name, "give it once, in the form or in the query")
    if not values:
        return None
    if len(values[0]) > limit:
        raise InvalidOption(name, f"longer than the limit of {limit} bytes")
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidOption(name, "is not valid UTF-8") from None


def _outputs(request: Request, settings: Settings) -> tuple[OutputSpec, ...]:
    text = _single(request, "output")
    given = {name: _single(request, name) for name in SHORTHAND}
    shorthand: dict[str, object] = {name: value for name, value in given.items() if value is not None}
    if text is not None and shorthand:
        raise InvalidOption(sorted(shorthand)[0], "use either output=JSON or the single-output parameters")
    if text is not None:
        return parse_outputs(text, settings.max_outputs, settings.max_output_side, supported_formats())
    if not shorthand:
        return DEFAULT_OUTPUTS
    quality = given["quality"]
    if quality is not None:
        if not _QUALITY.fullmatch(quality):
            raise InvalidOption("quality", "must be a whole number from 1 to 100")
        shorthand["quality"] = int(quality)
    animated = given["animated"]
    if animated is not None:
        if animated not in ("true", "false"):
            raise InvalidOption("animated", "must be true or false")
        shorthand["animated"] = animated == "true"
    try:
        return (OutputSpec.from_dict(shorthand, "output", settings.max_output_side, supported_formats()),)
    except InvalidOption as error:
        # The shorthand's fields are top-level parameters: name them so.
        raise InvalidOption(error.field.removeprefix("output."), str(error).split(": ", 1)[1]) from None


def _priority(value: str | None) -> str:
    value = value or priorities.DEFAULT
    if value not in priorities.PRIORITIES:
        raise InvalidOption("priority", f"must be one of {', '.join(priorities.PRIORITIES)}, not {quoted(value)}")
    return value


def _callback_url(url: str | None, settings: Settings) -> str | None:
    if url is None:
        return None
    if not settings.webhook_secret:
        raise InvalidOption("callback_url", "webhooks are not enabled on this server (WEBHOOK_SECRET is unset)")
    try:
        check_callback_url(url, settings.webhook_allow_networks)
    except CallbackRefused as error:
        raise InvalidOption("callback_url", str(error)) from None
    return url


def _url_ttl_seconds(value: str | None, settings: Settings) -> int | None:
    """How long the signed URLs work after completion; more than the retention is cut to it
    (the outputs are removed then anyway)."""
    if value is None:
        return None
    if not _SECONDS.fullmatch(value) or int(value) == 0:
        raise InvalidOption("url_ttl_seconds", f"must be a whole number of seconds from 1 (at most "
                                               f"{settings.retention_seconds} are kept), not {quoted(value)}")
    return min(int(value), settings.retention_seconds)


def _source_url(url: str | None, settings: Settings) -> str | None:
    """Checked here as a callback URL is (scheme, port, public addresses only); the thumbnailer
    checks it again at every redirect hop. Nothing is fetched on a request thread."""
    if url is None:
        return None
    try:
        check_callback_url(url, settings.source_allow_networks)
    except CallbackRefused as error:
        raise InvalidOption("source_url", str(error)) from None
    return url


def _source(source: str | None, settings: Settings) -> str | None:
    if source is None:
        return None
    bucket, _ = parse_object_source(source)
    if settings.storage_backend != "s3":
        raise InvalidOption("source", "objects by key need S3 storage (STORAGE_URL=s3://...); "
                                      "this server keeps its objects in a folder")
    if not settings.source_buckets:
        raise InvalidOption("source", "reading objects by key is not enabled on this server (SOURCE_BUCKETS is empty)")
    if bucket not in settings.source_buckets:
        raise InvalidOption("source", f"bucket {quoted(bucket)} is not one this server may read (SOURCE_BUCKETS)")
    return source


def read_json(request: Request, max_bytes: int, max_depth: int) -> object:
    """A JSON request body, read no further than max_bytes (413 past it) and parsed strictly
    (no NaN, no repeated keys, nested at most max_depth deep: InvalidOption naming `body`)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise RequestEntityTooLarge(f"the JSON body is {request.content_length} bytes; the limit is {max_bytes}")
    data = request.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RequestEntityTooLarge(f"the JSON body is larger than the limit of {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidOption("body", "is not valid UTF-8") from None
    return strict_json(text, "body", max_depth)
