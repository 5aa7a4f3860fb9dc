"""The six commands of ``memory_20250818`` over a store's tree, with the result and error
texts of the SDK's ``BetaLocalFilesystemMemoryTool`` (``anthropic/lib/tools/
_beta_builtin_memory_tool.py``), so Claude reads the same answers from either.

Where a database differs from a filesystem the texts say so in the same voice: a
directory's size is the bytes of the files inside it (a filesystem shows its own block
size), and what the SDK leaves to an ``OSError`` (a file used as a directory, a directory
moved inside itself, a file over the size limit) is refused with a message of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MemoryConflict, ToolRefused
from ..store.memories import MemoryFile, MemoryFiles, parents
from ._paths import ROOT, store_path

__all__ = ["MAX_FILE_BYTES", "MAX_LINES", "Tree", "run_command"]

MAX_LINES = 999_999
LINE_NUMBER_WIDTH = len(str(MAX_LINES))
MAX_FILE_BYTES = 256 * 1024  # a memory file is notes, not a document store


@dataclass(frozen=True, slots=True)
class Tree:
    """One ``/memories`` tree: the store, its owner and conversation (None: shared)."""

    store: MemoryFiles
    owner: str
    conversation_id: str | None
    max_file_bytes: int = MAX_FILE_BYTES

    def entry(self, path: str) -> MemoryFile | None:
        """The entry at a store path (the root is a directory that always exists)."""
        if path == "":
            return MemoryFile("", None, 0.0, 0.0, self.owner, self.conversation_id)
        found = self.store.memories(self.owner, self.conversation_id, prefix=path)
        return next((e for e in found if e.path == path), None)


def _format_file_size(size: int) -> str:
    """Sizes as the SDK's tool shows them: 0B, 512B, 1.5K, 2M."""
    if size == 0:
        return "0B"
    units = ["B", "K", "M", "G"]
    i = min((size.bit_length() - 1) // 10, len(units) - 1)
    scaled = size / (1024**i)
    return f"{int(scaled)}{units[i]}" if scaled == int(scaled) else f"{scaled:.1f}{units[i]}"


def _number(lines: list[str], start: int) -> str:
    return "\n".join(f"{str(i + start).rjust(LINE_NUMBER_WIDTH)}\t{line}"
                     for i, line in enumerate(lines))  # fmt: skip


def _need(command: Mapping[str, Any], name: str, kind: type) -> Any:
    value = command.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        got = "nothing" if value is None else type(value).__name__
        raise ToolRefused(
            f"Parameter `{name}` of command `{command.get('command')}` must be a "
            f"{kind.__name__}, got {got}"
        )
    return value


def _check_size(tree: Tree, path: str, content: str) -> None:
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > tree.max_file_bytes:
        raise ToolRefused(
            f"File {path} would be {size:,} bytes; a memory file holds at most "
            f"{tree.max_file_bytes:,} bytes"
        )
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolRefused(f"The text for {path} is not valid Unicode") from None


def _missing(path: str) -> ToolRefused:
    return ToolRefused(f"The path {path} does not exist. Please provide a valid path.")


def _file(tree: Tree, path: str) -> tuple[str, str]:
    """The store path and text of the file at tool path ``path``."""
    rel = store_path(path)
    entry = tree.entry(rel)
    if entry is None:
        raise _missing(path)
    if entry.content is None:
        raise ToolRefused(f"The path {path} is not a file.")
    return rel, entry.content


def _view_dir(tree: Tree, rel: str, path: str) -> str:
    """A directory two levels deep, hidden entries left out, sizes as the SDK shows them."""
    inside = [e for e in tree.store.memories(tree.owner, tree.conversation_id, prefix=rel)
              if e.path != rel]  # fmt: skip
    lines = [f"{_format_file_size(sum(e.size for e in inside))}\t{path}"]
    for e in inside:
        name = e.path[len(rel) + 1 :] if rel else e.path
        parts = name.split("/")
        if len(parts) > 2 or any(p.startswith(".") for p in parts):
            continue
        size = (
            sum(f.size for f in inside if f.path.startswith(e.path + "/")) if e.is_dir else e.size
        )
        lines.append(f"{_format_file_size(size)}\t{path}/{name}{'/' if e.is_dir else ''}")
    header = (
        f"Here're the files and directories up to 2 levels deep in {path}, excluding hidden items:"
    )
    return header + "\n" + "\n".join(lines)


def _view_file(content: str, path: str, view_range: Any) -> str:
    lines = content.split("\n")
    if len(lines) > MAX_LINES:
        raise ToolRefused(f"File {path} exceeds maximum line limit of 999,999 lines.")
    start = 1
    if view_range is not None and not (
        isinstance(view_range, list)
        and all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)
    ):
        raise ToolRefused(
            f"Invalid `view_range` parameter: {view_range}. It should be [start, end]."
        )
    if view_range and len(view_range) == 2:
        first = max(1, view_range[0]) - 1
        end = len(lines) if view_range[1] == -1 else view_range[1]
        lines, start = lines[first:end], first + 1
    return f"Here's the content of {path} with line numbers:\n" + _number(lines, start)


def view(tree: Tree, command: Mapping[str, Any]) -> str:
    """A directory listing, or a file with line numbers (``view_range`` optional)."""
    path = _need(command, "path", str)
    rel = store_path(path)
    entry = tree.entry(rel)
    if entry is None:
        raise _missing(path)
    if entry.content is None:
        return _view_dir(tree, rel, path)
    return _view_file(entry.content, path, command.get("view_range"))


def create(tree: Tree, command: Mapping[str, Any]) -> str:
    """A new file (its missing directories made); refused if anything is there."""
    path = _need(command, "path", str)
    text = _need(command, "file_text", str)
    rel = store_path(path)
    if rel == "":
        raise ToolRefused(f"File {path} already exists")
    _check_size(tree, path, text)
    try:
        tree.store.write_memory(tree.owner, tree.conversation_id, rel, text)
    except MemoryConflict:
        if tree.entry(rel) is not None:
            raise ToolRefused(f"File {path} already exists") from None
        raise ToolRefused(_under_a_file(tree, rel, path)) from None
    return f"File created successfully at: {path}"


def _under_a_file(tree: Tree, rel: str, path: str) -> str:
    """The message for a path whose parent is a file (or went away meanwhile)."""
    for parent in parents(rel):
        entry = tree.entry(parent)
        if entry is not None and not entry.is_dir:
            return f"Cannot use {path}: {ROOT}/{parent} is a file, not a directory"
    return f"The path {path} was changed concurrently; view it and try again"


def _write_back(tree: Tree, rel: str, path: str, old: str, new: str) -> None:
    _check_size(tree, path, new)
    try:
        tree.store.write_memory(tree.owner, tree.conversation_id, rel, new, expect=old)
    except MemoryConflict:
        raise ToolRefused(
            f"The file {path} no longer exists (may have been deleted or renamed concurrently)."
            if tree.entry(rel) is None
            else f"The file {path} was changed concurrently; view it and try again"
        ) from None


def str_replace(tree: Tree, command: Mapping[str, Any]) -> str:
    """Replace the one occurrence of ``old_str``; show the lines around the change."""
    path = _need(command, "path", str)
    old_str = _need(command, "old_str", str)
    new_str = command.get("new_str", "")
    if not isinstance(new_str, str):
        raise ToolRefused("Parameter `new_str` of command `str_replace` must be a str")
    rel, content = _file(tree, path)
    count = content.count(old_str)
    if count == 0:
        raise ToolRefused(
            f"No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}."
        )
    if count > 1:
        lines, start = [], 0
        while (pos := content.find(old_str, start)) != -1:
            lines.append(content[:pos].count("\n") + 1)
            start = pos + 1
        raise ToolRefused(
            f"No replacement was performed. Multiple occurrences of old_str `{old_str}` in "
            f"lines: {', '.join(map(str, lines))}. Please ensure it is unique"
        )
    changed = content[: content.find(old_str)].count("\n")
    new_content = content.replace(old_str, new_str)
    _write_back(tree, rel, path, content, new_content)
    new_lines = new_content.split("\n")
    first, end = max(0, changed - 2), min(len(new_lines), changed + 3)
    return (
        "The memory file has been edited. Here is the snippet showing the change (with line "
        "numbers):\n" + _number(new_lines[first:end], first + 1)
    )


def insert(tree: Tree, command: Mapping[str, Any]) -> str:
    """Insert ``insert_text`` after line ``insert_line`` (0: at the top)."""
    path = _need(command, "path", str)
    at = command.get("insert_line")
    text = _need(command, "insert_text", str)
    rel, content = _file(tree, path)
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= len(lines):
        raise ToolRefused(
            f"Invalid `insert_line` parameter: {at}. It should be within the range "
            f"[0, {len(lines)}]."
        )
    lines.insert(at, text.rstrip("\n"))
    new_content = "\n".join(lines)
    if not new_content.endswith("\n"):
        new_content += "\n"
    _write_back(tree, rel, path, content, new_content)
    return f"The file {path} has been edited."


def delete(tree: Tree, command: Mapping[str, Any]) -> str:
    """Delete a file, or a directory and everything in it."""
    path = _need(command, "path", str)
    rel = store_path(path)
    if rel == "":
        raise ToolRefused(f"Cannot delete the {ROOT} directory itself")
    if tree.store.delete_memory(tree.owner, tree.conversation_id, rel) == 0:
        raise ToolRefused(f"The path {path} does not exist")
    return f"Successfully deleted {path}"


def rename(tree: Tree, command: Mapping[str, Any]) -> str:
    """Move a file or directory (missing directories of the destination made)."""
    old_path = _need(command, "old_path", str)
    new_path = _need(command, "new_path", str)
    old, new = store_path(old_path), store_path(new_path)
    if old == "":
        raise ToolRefused(f"Cannot rename the {ROOT} directory itself")
    if tree.entry(new) is not None:
        raise ToolRefused(f"The destination {new_path} already exists")
    if tree.entry(old) is None:
        raise ToolRefused(f"The path {old_path} does not exist")
    if new.startswith(old + "/"):
        raise ToolRefused(f"Cannot move {old_path} inside itself ({new_path})")
    try:
        tree.store.rename_memory(tree.owner, tree.conversation_id, old, new)
    except MemoryConflict:
        raise ToolRefused(_under_a_file(tree, new, new_path)) from None
    return f"Successfully renamed {old_path} to {new_path}"


_COMMANDS = {
    "view": view,
    "create": create,
    "str_replace": str_replace,
    "insert": insert,
    "delete": delete,
    "rename": rename,
}


def run_command(tree: Tree, command: Mapping[str, Any]) -> str:
    """Run one memory command; ToolRefused with the tool's error text when it cannot."""
    name = command.get("command")
    handler = _COMMANDS.get(name) if isinstance(name, str) else None
    if handler is None:
        raise ToolRefused(f"Unknown command: {name}")
    return handler(tree, command)
