"""The memory tool's commands against the SDK's own local-filesystem memory tool: the same
commands give the same texts (results and errors); hostile paths are refused, whatever
the command, and nothing is written; oversize files are refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.tools import ToolError
from anthropic.lib.tools._beta_builtin_memory_tool import BetaLocalFilesystemMemoryTool

from claudechat.errors import ToolRefused
from claudechat.memorytool import MAX_PATH_CHARS, MemoryTool
from claudechat.store import MemoryStore

SESSION: list[dict[str, Any]] = [
    {"command": "view", "path": "/memories"},
    {
        "command": "create",
        "path": "/memories/notes/coffee.md",
        "file_text": "likes: flat white\nsugar: none\n",
    },
    {"command": "create", "path": "/memories/notes/deep/er/file.md", "file_text": "three levels"},
    {"command": "create", "path": "/memories/.hidden.md", "file_text": "not listed"},
    {"command": "create", "path": "/memories/todo.md", "file_text": "a\nb\na\n"},
    {"command": "create", "path": "/memories/todo.md", "file_text": "again"},
    {"command": "create", "path": "/memories", "file_text": "the root"},
    {"command": "view", "path": "/memories"},
    {"command": "view", "path": "/memories/notes"},
    {"command": "view", "path": "/memories/notes/coffee.md"},
    {"command": "view", "path": "/memories/todo.md", "view_range": [2, -1]},
    {"command": "view", "path": "/memories/todo.md", "view_range": [2, 3]},
    {"command": "view", "path": "/memories/nothing.md"},
    {
        "command": "str_replace",
        "path": "/memories/notes/coffee.md",
        "old_str": "flat white",
        "new_str": "cortado",
    },
    {
        "command": "str_replace",
        "path": "/memories/notes/coffee.md",
        "old_str": "tea",
        "new_str": "x",
    },
    {"command": "str_replace", "path": "/memories/todo.md", "old_str": "a", "new_str": "x"},
    {"command": "str_replace", "path": "/memories/notes", "old_str": "a", "new_str": "x"},
    {"command": "str_replace", "path": "/memories/none.md", "old_str": "a", "new_str": "x"},
    {
        "command": "insert",
        "path": "/memories/todo.md",
        "insert_line": 1,
        "insert_text": "inserted\n",
    },
    {"command": "insert", "path": "/memories/todo.md", "insert_line": 9, "insert_text": "late"},
    {"command": "insert", "path": "/memories/notes", "insert_line": 0, "insert_text": "x"},
    {"command": "view", "path": "/memories/todo.md"},
    {"command": "rename", "old_path": "/memories/todo.md", "new_path": "/memories/done/todo.md"},
    {"command": "rename", "old_path": "/memories/notes", "new_path": "/memories/done/todo.md"},
    {"command": "rename", "old_path": "/memories/missing.md", "new_path": "/memories/x.md"},
    {"command": "rename", "old_path": "/memories", "new_path": "/memories/x"},
    {"command": "rename", "old_path": "/memories/notes", "new_path": "/memories/archive/notes"},
    {"command": "view", "path": "/memories/archive/notes/coffee.md"},
    {"command": "delete", "path": "/memories/done/todo.md"},
    {"command": "delete", "path": "/memories/done/todo.md"},
    {"command": "delete", "path": "/memories"},
    {"command": "delete", "path": "/memories/archive"},
    {"command": "view", "path": "/etc/passwd"},
    {"command": "view", "path": "/memories/../secret"},
    {"command": "create", "path": "/memories/a/../../escape.md", "file_text": "x"},
    {"command": "create", "path": "/memories/a/../inside.md", "file_text": "allowed"},
    {"command": "view", "path": "/memories/"},
]


def _sizes_aside(text: str) -> str:
    """A directory listing without its sizes (a filesystem shows its block size for a
    directory; a database tree shows the bytes inside it)."""
    if not text.startswith("Here're the files"):
        return text
    return re.sub(r"(?m)^[0-9.]+[BKMG]\t", "SIZE\t", text)


def _sdk(tool: BetaLocalFilesystemMemoryTool, command: dict[str, Any]) -> tuple[bool, str]:
    try:
        return False, str(tool.call(command))
    except ToolError as err:
        return True, str(err.content)


def _ours(tool: MemoryTool, command: dict[str, Any]) -> tuple[bool, str]:
    try:
        return False, tool.run(command)
    except ToolRefused as err:
        return True, str(err)


def test_every_command_answers_as_the_sdks_memory_tool(tmp_path: Path) -> None:
    sdk = BetaLocalFilesystemMemoryTool(str(tmp_path))
    ours = MemoryTool(MemoryStore())
    for command in SESSION:
        expected = _sdk(sdk, command)
        got = _ours(ours, command)
        assert (got[0], _sizes_aside(got[1])) == (expected[0], _sizes_aside(expected[1])), command


def test_a_listing_sizes_files_and_the_bytes_inside_directories() -> None:
    tool = MemoryTool(MemoryStore())
    tool(command="create", path="/memories/d/a.md", file_text="x" * 1536)
    tool(command="create", path="/memories/b.md", file_text="")
    assert tool(command="view", path="/memories").splitlines()[1:] == [
        "1.5K\t/memories",
        "0B\t/memories/b.md",
        "1.5K\t/memories/d/",
        "1.5K\t/memories/d/a.md",
    ]


HOSTILE = [
    ("/etc/passwd", "Path must start with /memories, got: /etc/passwd"),
    ("memories/notes.md", "Path must start with /memories"),
    ("", "Path must start with /memories"),
    ("/memories/../etc/passwd", "would escape /memories directory"),
    ("/memories/notes/../../etc/passwd", "would escape /memories directory"),
    ("/memories/../memories/../../x", "would escape /memories directory"),
    ("/memories/%2e%2e/etc/passwd", "would escape /memories directory"),
    ("/memories/%2E%2E%2Fetc", "would escape /memories directory"),
    ("/memories/%252e%252e/etc", "would escape /memories directory"),
    ("/memories/%2fetc/passwd", "would escape /memories directory"),
    ("/memories/\uff0e\uff0e/etc", "would escape /memories directory"),  # fullwidth dots
    ("/memories/\u2025/etc", "would escape /memories directory"),  # two dot leader
    ("/memories/..\\..\\etc\\passwd", "contains a backslash"),
    ("/memories/notes.md\x00.txt", "contains a control character"),
    ("/memories/a\nb", "contains a control character"),
    ("/memories/%00x", "would escape /memories directory"),
    ("/memories/" + "n" * 256, "a name longer than 255 bytes"),
    ("/memories/" + "a/" * (MAX_PATH_CHARS // 2), "a memory path holds at most 1,024"),
    ("/memories/\ud800.md", "is not valid Unicode"),
]


def _every_use(path: str) -> list[dict[str, Any]]:
    return [
        {"command": "view", "path": path},
        {"command": "create", "path": path, "file_text": "x"},
        {"command": "str_replace", "path": path, "old_str": "a", "new_str": "b"},
        {"command": "insert", "path": path, "insert_line": 0, "insert_text": "x"},
        {"command": "delete", "path": path},
        {"command": "rename", "old_path": path, "new_path": "/memories/moved.md"},
        {"command": "rename", "old_path": "/memories/kept.md", "new_path": path},
    ]


@pytest.mark.parametrize(("path", "message"), HOSTILE, ids=[repr(p[:40]) for p, _ in HOSTILE])
def test_a_hostile_path_is_refused_by_every_command(path: str, message: str) -> None:
    store = MemoryStore()
    tool = MemoryTool(store)
    tool(command="create", path="/memories/kept.md", file_text="kept")
    before = store.all_memories("local")
    for command in _every_use(path):
        with pytest.raises(ToolRefused) as refused:
            tool.run(command)
        assert message in str(refused.value), command
        assert "\x00" not in str(refused.value)
    assert store.all_memories("local") == before


def test_a_symlink_style_escape_through_an_existing_directory_is_refused() -> None:
    """A tree in the store has no links: a directory named like a link target is just a
    name, and climbing out of it still counts from the root."""
    tool = MemoryTool(MemoryStore())
    tool(command="create", path="/memories/link/x.md", file_text="x")
    for path in ("/memories/link/../../outside.md", "/memories/link/./../../../etc"):
        with pytest.raises(ToolRefused, match="would escape /memories directory"):
            tool(command="create", path=path, file_text="x")
    with pytest.raises(ToolRefused, match="is a file, not a directory"):
        tool(command="create", path="/memories/link/x.md/y.md", file_text="x")


def test_oversize_files_are_refused_and_nothing_is_written() -> None:
    store = MemoryStore()
    tool = MemoryTool(store, max_file_bytes=100)
    with pytest.raises(ToolRefused, match="would be 101 bytes; a memory file holds at most 100"):
        tool(command="create", path="/memories/big.md", file_text="x" * 101)
    tool(command="create", path="/memories/f.md", file_text="y" * 90)
    with pytest.raises(ToolRefused, match="at most 100 bytes"):
        tool(command="str_replace", path="/memories/f.md", old_str="y" * 90, new_str="z" * 120)
    with pytest.raises(ToolRefused, match="at most 100 bytes"):
        tool(command="insert", path="/memories/f.md", insert_line=1, insert_text="w" * 20)
    assert [e.content for e in store.all_memories("local")] == ["y" * 90]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ({"command": "shred", "path": "/memories"}, "Unknown command: shred"),
        ({"path": "/memories"}, "Unknown command: None"),
        ({"command": "create", "path": "/memories/a.md"}, "`file_text` of command `create`"),
        ({"command": "view", "path": 7}, "must be a str, got int"),
        ({"command": "view", "path": "/memories/a.md", "view_range": "1-2"}, "view_range"),
        (
            {"command": "insert", "path": "/memories/a.md", "insert_line": "1", "insert_text": "x"},
            "Invalid `insert_line` parameter: 1",
        ),
    ],
)
def test_malformed_commands_get_an_error_result(command: dict[str, Any], message: str) -> None:
    tool = MemoryTool(MemoryStore())
    tool(command="create", path="/memories/a.md", file_text="a\n")
    with pytest.raises(ToolRefused, match=re.escape(message)):
        tool.run(command)
