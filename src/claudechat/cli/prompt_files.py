"""Text files put into a prompt: ``-f PATH`` on ``ask`` / ``chat`` and ``@path`` in the REPL.

Each file is inlined after the prompt in a block that names it, so Claude can tell the
files apart and refer to them. Binary files are refused with a clear error: images and
PDFs are attachments, not text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import UserError

__all__ = [
    "at_paths",
    "complete_path",
    "describe_files",
    "file_block",
    "read_text_file",
    "with_files",
]

_AT_PATH = re.compile(r"(?<!\S)@(\S+)")
_TRAILING = ".,;:!?)]}'\""


def read_text_file(path: Path) -> str:
    """A file's text (UTF-8, no NUL bytes); UserError naming the file otherwise."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{path} is a directory: give the files in it one by one") from None
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"  # the same refusal as a NUL byte
    if "\x00" in text:
        raise UserError(
            f"{path} is a binary file, not text: only text files can be put into the "
            "prompt (images and PDFs go through attachments)"
        )
    return text


def file_block(name: str, text: str) -> str:
    """One file as a delimited block that names it."""
    body = text if text.endswith("\n") or not text else text + "\n"
    return f'<file name="{name}">\n{body}</file>'


def with_files(prompt: str, paths: Iterable[Path]) -> str:
    """The prompt followed by each file's block (read now; binary files refused)."""
    blocks = [file_block(str(p), read_text_file(p)) for p in paths]
    return "\n\n".join(part for part in (prompt.strip("\n"), *blocks) if part)


def at_paths(line: str, *, cwd: Path | None = None) -> list[Path]:
    """The existing files named ``@path`` in a REPL line (``@name`` that is not a file
    stays plain text; trailing punctuation is not part of the path)."""
    base = cwd or Path.cwd()
    found: list[Path] = []
    for match in _AT_PATH.finditer(line):
        word = match.group(1)
        for candidate in (word, word.rstrip(_TRAILING)):
            path = Path(os.path.expanduser(candidate))
            full = path if path.is_absolute() else base / path
            if candidate and full.is_file():
                if path not in found:
                    found.append(path)
                break
    return found


def complete_path(fragment: str, *, cwd: Path | None = None) -> list[str]:
    """Completions of a partly typed path (directories end with '/'; hidden files only
    when the fragment's last part starts with a dot)."""
    base = cwd or Path.cwd()
    head, _, start = fragment.rpartition("/")
    folder_text = head + "/" if head or fragment.startswith("/") else ""
    folder = Path(os.path.expanduser(folder_text or "."))
    folder = folder if folder.is_absolute() else base / folder
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    out: list[str] = []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name[0] == "." and start[:1] != "."):
            continue
        slash = "/" if entry.is_dir() else ""
        out.append(f"{folder_text}{entry.name}{slash}")
    return out


def describe_files(paths: Sequence[Path]) -> str:
    """'notes.txt, data.csv' for a hint."""
    return ", ".join(str(p) for p in paths)
