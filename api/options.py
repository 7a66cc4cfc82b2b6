"""What a submission asks for besides the image: outputs, priority, callback_url.

Each may come as a multipart form field (or, for `output`, a JSON file part) or as a query
parameter. `output` is JSON (an object or a list of them); for a single output the query
shorthand `format=`, `size=`, `fit=`, `quality=`, `background=` works too.
"""

from __future__ import annotations

import dataclasses

from flask import Request

from core import priorities
from core.callbacks import check_callback_url
from core.errors import CallbackRefused, InvalidOption
from core.formats import supported_formats
from core.outputs import DEFAULT_OUTPUTS, OutputSpec, parse_outputs
from core.settings import Settings

SHORTHAND = ("format", "size", "fit", "quality", "background")


@dataclasses.dataclass(frozen=True)
class Options:
    outputs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS
    priority: str = priorities.DEFAULT
    callback_url: str | None = None


def read_options(request: Request, settings: Settings) -> Options:
    """Parse and check everything; raise InvalidOption naming the bad field (the api answers 400)."""
    return Options(_outputs(request, settings), _priority(request), _callback_url(request, settings))


def _single(request: Request, name: str) -> str | None:
    """A field given once, in the form or the query (not both, not twice)."""
    values = request.args.getlist(name) + request.form.getlist(name)
    if name in request.files:
        values += [part.read().decode("utf-8", "replace") for part in request.files.getlist(name)]
    if len(values) > 1:
        raise InvalidOption(name, "give it once, in the form or in the query")
    return values[0] if values else None


def _outputs(request: Request, settings: Settings) -> tuple[OutputSpec, ...]:
    text = _single(request, "output")
    shorthand = {name: _single(request, name) for name in SHORTHAND}
    shorthand = {name: value for name, value in shorthand.items() if value is not None}
    if text is not None and shorthand:
        raise InvalidOption(sorted(shorthand)[0], "use either output=JSON or the single-output parameters")
    if text is not None:
        return parse_outputs(text, settings.max_outputs, settings.max_output_side, supported_formats())
    if not shorthand:
        return DEFAULT_OUTPUTS
    if "quality" in shorthand:
        try:
            shorthand["quality"] = int(shorthand["quality"])
        except ValueError:
            raise InvalidOption("quality", "must be a whole number from 1 to 100") from None
    try:
        return (OutputSpec.from_dict(shorthand, "output", settings.max_output_side, supported_formats()),)
    except InvalidOption as error:
        # The shorthand's fields are top-level parameters: name them so.
        raise InvalidOption(error.field.removeprefix("output."), str(error).split(": ", 1)[1]) from None


def _priority(request: Request) -> str:
    value = _single(request, "priority") or priorities.DEFAULT
    if value not in priorities.PRIORITIES:
        raise InvalidOption("priority", f"must be one of {', '.join(priorities.PRIORITIES)}, not {value!r}")
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
