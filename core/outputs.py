"""What a job asks to be made: one or more outputs (size, format, fit mode), validated once.

The api parses client input into OutputSpec objects (a bad one raises InvalidOption naming the
field); the job document carries them as plain dicts; the thumbnailer renders from them.
"""

from __future__ import annotations

import dataclasses
import json
import re

from core import formats as image_formats
from core.errors import InvalidOption, quoted

FITS = ("contain", "cover", "pad")
DEFAULT_SIZE = 100
# The most outputs any configuration may allow: bounds the keys delete_data removes.
HARD_MAX_OUTPUTS = 32
# fullmatch, not `^...$`: `$` also matches before a final newline ("#ffffff\n").
_COLOUR = re.compile(r"#?(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
# "200,200" or "200x200": ASCII digits only (int() would also take " 2_00" or "２００").
_SIZE = re.compile(r"([0-9]{1,5})\s*[,x]\s*([0-9]{1,5})", re.ASCII)
# The `output` JSON is at most a list of objects whose values may be [w, h] lists.
MAX_JSON_DEPTH = 3
_KEYS = ("format", "size", "width", "height", "fit", "quality", "background", "upscale", "animated")


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """One output. format 'auto' is the historic default: PNG for images with alpha, else JPEG."""

    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE
    format: str = image_formats.AUTO
    fit: str = "contain"
    quality: int | None = None
    background: str | None = None  # '#rrggbb', '#rrggbbaa' or 'transparent'; pad only
    upscale: bool = False  # True: a source smaller than the box is enlarged to fill it
    animated: bool = False  # True: an animated GIF or WebP input keeps its frames (gif and webp only)

    def to_dict(self) -> dict:
        """Plain JSON; `upscale` and `animated` only when asked, so documents without them read as before."""
        document = dataclasses.asdict(self)
        for flag in ("upscale", "animated"):
            if not document[flag]:
                del document[flag]
        return document

    @classmethod
    def from_dict(cls, document: dict, field: str = "output", max_side: int = 2048,
                  formats: tuple[str, ...] = image_formats.OUTPUT_FORMATS) -> OutputSpec:
        """Validate one client- or storage-supplied output; errors name `field[.key]`."""
        if not isinstance(document, dict):
            raise InvalidOption(field, "each output must be a JSON object")
        unknown = set(document) - set(_KEYS)
        if unknown:
            raise InvalidOption(f"{field}.{quoted(sorted(unknown)[0])}", f"unknown key; use {', '.join(_KEYS)}")
        width, height = _size(document, field, max_side)
        image_format = document.get("format", image_formats.AUTO)
        if not isinstance(image_format, str):
            raise InvalidOption(f"{field}.format", "must be a string")
        image_format = image_formats.canonical(image_format)
        if image_format not in image_formats.OUTPUT_FORMATS:
            raise InvalidOption(f"{field}.format", f"unknown format {quoted(image_format)}; "
                                                   f"use {', '.join(image_formats.OUTPUT_FORMATS)}")
        if image_format not in formats:
            raise InvalidOption(f"{field}.format", f"{image_format} is not supported by this server's Pillow")
        fit = document.get("fit", "contain")
        if fit not in FITS:
            raise InvalidOption(f"{field}.fit", f"unknown fit {quoted(fit)}; use {', '.join(FITS)}")
        quality = document.get("quality")
        if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)
                                    or not 1 <= quality <= 100):
            raise InvalidOption(f"{field}.quality", "must be a whole number from 1 to 100")
        background = document.get("background")
        if background is not None:
            if fit != "pad":
                raise InvalidOption(f"{field}.background", "only the pad fit uses a background")
            if not isinstance(background, str) or not (background == "transparent" or _COLOUR.fullmatch(background)):
                raise InvalidOption(f"{field}.background", "must be '#rrggbb', '#rrggbbaa' or 'transparent'")
            if background == "transparent" and image_format not in (*image_formats.ALPHA_FORMATS, image_formats.AUTO):
                raise InvalidOption(f"{field}.background", f"{image_format} has no transparency")
        upscale = document.get("upscale", False)
        if not isinstance(upscale, bool):
            raise InvalidOption(f"{field}.upscale", "must be true or false")
        animated = document.get("animated", False)
        if not isinstance(animated, bool):
            raise InvalidOption(f"{field}.animated", "must be true or false")
        if animated and image_format not in image_formats.ANIMATED_FORMATS:
            raise InvalidOption(f"{field}.animated", f"only {' and '.join(image_formats.ANIMATED_FORMATS)} "
                                                     "outputs can be animated; ask for one as the format")
        return cls(width, height, image_format, fit, quality, background, upscale, animated)


def _size(document: dict, field: str, max_side: int) -> tuple[int, int]:
    if "size" in document:
        raw = document["size"]
        if isinstance(raw, str):
            matched = _SIZE.fullmatch(raw.strip())
            if not matched:
                raise InvalidOption(f"{field}.size", "must look like \"200,200\" or [200, 200]")
            parts = [int(part) for part in matched.groups()]
        else:
            parts = raw
        if not isinstance(parts, list) or len(parts) != 2:
            raise InvalidOption(f"{field}.size", "must look like \"200,200\" or [200, 200]")
        width, height = parts
        name = f"{field}.size"
    else:
        width, height = document.get("width", DEFAULT_SIZE), document.get("height", DEFAULT_SIZE)
        name = f"{field}.width" if not _side_ok(width, max_side) else f"{field}.height"
    for side in (width, height):
        if not _side_ok(side, max_side):
            raise InvalidOption(name, f"each side must be a whole number from 1 to {max_side}")
    return width, height


def _side_ok(value, max_side: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= max_side


DEFAULT_OUTPUTS = (OutputSpec(),)


def parse_outputs(text: str, max_outputs: int, max_side: int, formats: tuple[str, ...]) -> tuple[OutputSpec, ...]:
    """The `output` request field: a JSON object or a list of them (the caller bounds its length)."""
    return outputs_from_document(strict_json(text, "output"), max_outputs, max_side, formats)


def outputs_from_document(document: object, max_outputs: int, max_side: int, formats: tuple[str, ...],
                          field: str = "output") -> tuple[OutputSpec, ...]:
    """`output` already parsed from JSON (an object or a list of them): a JSON request body's."""
    items = document if isinstance(document, list) else [document]
    if not items:
        raise InvalidOption(field, "ask for at least one output")
    if len(items) > max_outputs:
        raise InvalidOption(field, f"{len(items)} outputs asked for; the limit is {max_outputs}")
    return tuple(OutputSpec.from_dict(item, f"{field}[{index}]", max_side, formats)
                 for index, item in enumerate(items))


def strict_json(text: str, field: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """JSON without NaN/Infinity, duplicate keys or nesting deeper than max_depth."""
    if _depth(text) > max_depth:
        raise InvalidOption(field, f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except ValueError as error:
        raise InvalidOption(field, f"not valid JSON: {error}") from None


def _depth(text: str) -> int:
    """How deeply brackets nest outside strings: checked before json.loads recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return document
