"""JSON files the user gives (hints, reference lists, keyframes.json, a corpus manifest), read
with limits.

Python's ``json`` has no depth limit of its own: text nested a hundred thousand levels deep
ends in a ``RecursionError``, and a file of a million entries is parsed whole before anyone
can count them. ``json_shape`` measures the text first, in C-speed passes over it (strings
left out, then the brackets counted), so both are refused before parsing, in a fraction of
a second for tens of megabytes:

- nesting deeper than ``MAX_JSON_DEPTH`` (arrays and objects) is a ``UsageError``;
- ``max_objects`` (optional) caps the number of JSON objects (``{...}``) in the file: every
  hint and every reference-list entry is one, so a file with too many is refused unparsed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import MAX_JSON_DEPTH
from .errors import UsageError

# Every byte but the four brackets and the quote: deleted to leave the skeleton of the text.
_DELETE = bytes(b for b in range(256) if b not in b'[]{}"')
_ESCAPE = re.compile(rb"\\.", re.DOTALL)


@dataclass(frozen=True, slots=True)
class JsonShape:
    """How deep a JSON text nests and how many objects it holds."""

    #: Deepest nesting of arrays and objects (0 for a bare number or string).
    depth: int
    #: Number of objects (``{...}``).
    objects: int


def json_shape(text: str) -> JsonShape:
    """Measure ``text`` without parsing it (brackets inside strings are not counted; for text
    that is not valid JSON the numbers are only an estimate, and parsing fails anyway).

    Escapes are removed first (outside strings valid JSON has no backslash), then every byte
    but brackets and quotes; a bracket is outside the strings where the quotes before it are
    even in number. UTF-8 multi-byte characters never hold these ASCII bytes.
    """
    data = text.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    codes = np.frombuffer(data.translate(None, _DELETE), dtype=np.uint8)
    quotes = codes == ord('"')
    in_string = np.bitwise_xor.accumulate(quotes.view(np.uint8))
    brackets = codes[~quotes & (in_string == 0)]
    if brackets.size == 0:
        return JsonShape(0, 0)
    opening = (brackets == ord("[")) | (brackets == ord("{"))
    depth = int(np.cumsum(np.where(opening, 1, -1).astype(np.int32), dtype=np.int32).max())
    return JsonShape(depth=max(depth, 0), objects=int(np.count_nonzero(brackets == ord("{"))))


def parse_json(
    text: str,
    source: str,
    *,
    max_objects: int | None = None,
    too_many: str = "",
) -> Any:
    """Parse ``text`` (the contents of ``source``, named in messages) with the limits above.

    Args:
        text: the JSON text.
        source: the file name, for messages.
        max_objects: refuse text with more JSON objects than this, before parsing.
        too_many: the message for that (after ``"{source}: "``): what the objects are, the
            limit and how to raise it.
    Raises:
        UsageError: nesting deeper than ``MAX_JSON_DEPTH``, more objects than
            ``max_objects``, or invalid JSON (with its line and column).
    """
    shape = json_shape(text)
    if shape.depth > MAX_JSON_DEPTH:
        raise UsageError(
            f"{source}: JSON nested {shape.depth} levels deep; filmcolor reads at most "
            f"{MAX_JSON_DEPTH} (its own formats need 4): fix the file"
        )
    if max_objects is not None and shape.objects > max_objects:
        raise UsageError(f"{source}: {too_many or f'more than {max_objects} JSON objects'}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: invalid JSON: {exc}; fix the file there") from exc
    except RecursionError as exc:  # deeper than the interpreter allows, though under the limit
        raise UsageError(f"{source}: JSON nested too deeply to read; fix the file") from exc


def read_json(
    path: str | os.PathLike[str],
    *,
    max_objects: int | None = None,
    too_many: str = "",
) -> Any:
    """Read and parse a user's JSON file (UTF-8, a byte-order mark allowed) with
    ``parse_json``'s limits. ``UsageError`` also for text that is not UTF-8; ``OSError`` for a
    file that cannot be read."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: not a UTF-8 text file ({exc.reason}); save it as UTF-8") from exc
    return parse_json(text, str(p), max_objects=max_objects, too_many=too_many)
