"""Tool paths (``/memories/notes/coffee.md``) made store paths (``notes/coffee.md``), or
refused with the memory tool's error results.

The rules of the SDK's local-filesystem memory tool come first, with its messages: a path
starts with ``/memories``, and once ``.`` and ``..`` are resolved it stays inside. A tree
in a database has no symlinks to follow, so what else could escape is refused here too:
a path that escapes once percent-decoded (``%2e%2e``, ``%252e``) or Unicode-normalised
(``．．``, ``‥``), backslashes (``..\\``), control characters (NUL), names over 255 bytes,
paths over 1,024 characters, and text that is not valid Unicode.
"""

from __future__ import annotations

import posixpath
import unicodedata
from typing import Any
from urllib.parse import unquote

from ..errors import ToolRefused

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_CHARS", "ROOT", "store_path"]

ROOT = "/memories"
MAX_PATH_CHARS = 1024
MAX_NAME_BYTES = 255


def store_path(path: Any) -> str:
    """The store path of a tool path ("" for ``/memories`` itself), or ToolRefused."""
    if not isinstance(path, str):
        raise ToolRefused(f"Path must be a string, got: {type(path).__name__}")
    if not path.startswith(ROOT):
        raise ToolRefused(f"Path must start with {ROOT}, got: {path}")
    _check_text(path)
    relative = path[len(ROOT) :].lstrip("/")
    if _escapes(posixpath.normpath(relative or ".")):
        raise ToolRefused(f"Path {path} would escape {ROOT} directory")
    for variant in _decodings(relative):
        if variant != relative and _suspicious(variant):
            raise ToolRefused(f"Path {path} would escape {ROOT} directory")
    resolved = posixpath.normpath(relative or ".")
    resolved = "" if resolved == "." else resolved
    for name in resolved.split("/") if resolved else []:
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ToolRefused(f"Path {path} has a name longer than {MAX_NAME_BYTES} bytes")
    return resolved


def _check_text(path: str) -> None:
    """Refuse paths that are too long, not valid Unicode, or hold control characters."""
    if len(path) > MAX_PATH_CHARS:
        raise ToolRefused(
            f"Path is {len(path):,} characters long; a memory path holds at most {MAX_PATH_CHARS:,}"
        )
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolRefused(
            f"Path {path.encode('utf-8', 'replace').decode()} is not valid Unicode"
        ) from None
    if any(unicodedata.category(c) == "Cc" for c in path):
        raise ToolRefused(f"Path {path!r} contains a control character")
    if "\\" in path:
        raise ToolRefused(f"Path {path} contains a backslash; memory paths are separated by /")


def _escapes(normalised: str) -> bool:
    return normalised == ".." or normalised.startswith(("../", "/"))


def _decodings(relative: str) -> list[str]:
    """What ``relative`` could mean to a less careful reader: percent-decoded (until it
    stops changing), Unicode-normalised (NFKC), and both."""
    decoded = relative
    for _ in range(4):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    nfkc = unicodedata.normalize("NFKC", relative)
    return [decoded, nfkc, unicodedata.normalize("NFKC", decoded)]


def _suspicious(variant: str) -> bool:
    """A decoded reading that names a parent, starts at the filesystem root, or hides a
    control character or backslash."""
    if variant.startswith("/") or "\\" in variant:
        return True
    if any(unicodedata.category(c) == "Cc" for c in variant):
        return True
    return ".." in variant.split("/")
