"""What a submission asks for besides the image: outputs, priority, callback_url.

Each may come as a multipart form field (or, for `output`, a JSON file part) or as a query
parameter. `output` is JSON (an object or a list of them); for a single output the query
shorthand `format=`, `size=`, `fit=`, `quality=`, `background=`, `animated=` works too.

Every value is read only up to its limit (MAX_OPTION_BYTES) and refused past it, before it is
decoded or parsed: a 44 MB file part named `output` costs a bounded read, not a gigabyte.
"""

from __future__ import annotations

import dataclasses
import re

from flask import Request

from core import priorities
from core.callbacks import MAX_URL_LENGTH, check_callback_url
from core.errors import CallbackRefused, InvalidOption, quoted
from core.formats import supported_formats
from core.outputs import DEFAULT_OUTPUTS, OutputSpec, parse_outputs
from core.settings import Settings

SHORTHAND = ("format", "size", "fit", "quality", "background", "animated")
# The most bytes read of each option: 8 outputs as JSON take well under 2 KB.
MAX_OPTION_BYTES = {"output": 16 * 1024, "callback_url": MAX_URL_LENGTH}
MAX_SHORT_OPTION_BYTES = 64  # format, size, fit, quality, background, animated, priority
# Werkzeug's own bounds on the multipart form, which cover text fields but not file parts. Its
# multipart decoder also applies the memory bound to each chunk it reads (64 KiB) plus what it
# still holds, file parts included: the bound must stay well above that, or every upload larger
# than about 64 KiB is refused with 413 (tests/test_api.py sends a 1 MB one).
MAX_FORM_MEMORY_BYTES = 256 * 1024
MAX_FORM_PARTS = 16
_QUALITY = re.compile(r"[0-9]{1,3}", re.ASCII)


@dataclasses.dataclass(frozen=True)
class Options:
    outputs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS
    priority: str = priorities.DEFAULT
    callback_url: str | None = None


def read_options(request: Request, settings: Settings) -> Options:
    """Parse and check everything; raise InvalidOption naming the bad field (the api answers 400)."""
    return Options(_outputs(request, settings), _priority(request), _callback_url(request, settings))


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


def _priority(request: Request) -> str:
    value = _single(request, "priority") or priorities.DEFAULT
    if value not in priorities.PRIORITIES:
        raise InvalidOption("priority", f"must be one of {', '.join(priorities.PRIORITIES)}, not {quoted(value)}")
    return value


def _callback_url(request: Request, settings: Settings) -> str | None:
    url = _single(request, "callback_url")
    if url is None:
        return None
    if not settings.webhook_secret:
        raise InvalidOption("callback_url", "webhooks are not enabled on this server (WEBHOOK_SECRET is unset)")
    try:
        check_callback_url(url, settings.webhook_allow_networks)
    except CallbackRefused as error:
        raise InvalidOption("callback_url", str(error)) from None
    return url
