"""Files into the prompt: ``-f PATH`` on ask and chat, ``@path`` in the REPL, binary files
refused, a large file confirmed first, and Tab completion of paths."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from emulated import last_user_text, sent_bodies, server_env

from claudechat.cli.prompt_files import at_paths, complete_path
from claudechat.testing import EmulatorServer

Run = Callable[..., Result]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("The launch code is PINEAPPLE.\n")
    return path


def test_ask_f_inlines_each_file_in_a_block_that_names_it(
    run: Run, server: EmulatorServer, notes: Path, tmp_path: Path
) -> None:
    other = tmp_path / "data.csv"
    other.write_text("a,b\n1,2")
    result = run("ask", "-f", str(notes), "--file", str(other), "Summarise these",
                 env=server_env(server))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert last_user_text(server) == (
        f'Summarise these\n\n<file name="{notes}">\nThe launch code is PINEAPPLE.\n</file>'
        f'\n\n<file name="{other}">\na,b\n1,2\n</file>'
    )


def test_ask_f_alone_is_a_prompt(run: Run, server: EmulatorServer, notes: Path) -> None:
    result = run("ask", "-f", str(notes), env=server_env(server))
    assert result.exit_code == 0, result.output
    assert last_user_text(server).startswith(f'<file name="{notes}">')


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00", b"caf\xe9"])
def test_a_binary_file_is_refused_before_anything_is_sent(
    run: Run, server: EmulatorServer, tmp_path: Path, data: bytes
) -> None:
    image = tmp_path / "picture.png"
    image.write_bytes(data)
    for args in (("ask", "hi"), ("chat",)):
        result = run(*args, "-f", str(image), env=server_env(server), input="hi\n")
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: {image} is a binary file, not text: only text files can be put into the "
            "prompt (images and PDFs go through attachments)"
        )
    assert sent_bodies(server) == []


def test_a_missing_file_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run("ask", "-f", str(tmp_path / "nope.txt"), "hi")
    assert result.exit_code == 2 and "nope.txt" in result.stderr


def test_a_large_file_is_confirmed_first(run: Run, server: EmulatorServer, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("All work and no play makes Jack a dull boy.\n" * 8_000)  # ~90k tokens
    refused = run("ask", "-f", str(big), "summarise", env=server_env(server))
    assert refused.exit_code == 2 and "not sent: the prompt is about" in refused.stderr
    assert sent_bodies(server) == []
    sent = run("ask", "--yes", "-f", str(big), "summarise", env=server_env(server))
    assert sent.exit_code == 0, sent.output


def test_chat_f_goes_with_the_first_message_and_at_path_with_its_own(
    run: Run, server: EmulatorServer, notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "todo.md").write_text("- buy milk\n")
    monkeypatch.chdir(tmp_path)
    lines = "first\nsecond\nwhat about @todo.md, and @nobody?\n/quit\n"
    result = run("chat", "-f", str(notes), input=lines, env=server_env(server))
    assert result.exit_code == 0, result.output
    assert f"[{notes}: sent with your next message]" in result.stdout
    first, second, third = (b["messages"][-1]["content"] for b in sent_bodies(server))
    texts = ["".join(b["text"] for b in c if b["type"] == "text") for c in (first, second, third)]
    assert texts[0] == f'first\n\n<file name="{notes}">\nThe launch code is PINEAPPLE.\n</file>'
    assert "<file" not in texts[1]
    assert (
        texts[2]
        == 'what about @todo.md, and @nobody?\n\n<file name="todo.md">\n- buy milk\n</file>'
    )
    assert "[with todo.md]" in result.stdout


def test_at_paths_and_path_completion(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print()")
    (tmp_path / "setup.cfg").write_text("")
    (tmp_path / ".hidden").write_text("")
    assert at_paths("see @src/main.py. and @setup.cfg", cwd=tmp_path) == [
        Path("src/main.py"),
        Path("setup.cfg"),
    ]
    assert at_paths("mail me@example.com or @someone", cwd=tmp_path) == []
    assert complete_path("s", cwd=tmp_path) == ["setup.cfg", "src/"]
    assert complete_path("src/m", cwd=tmp_path) == ["src/main.py"]
    assert complete_path("", cwd=tmp_path) == ["setup.cfg", "src/"]
    assert complete_path(".h", cwd=tmp_path) == [".hidden"]
    assert complete_path(str(tmp_path) + os.sep + "se", cwd=Path("/")) == [f"{tmp_path}/setup.cfg"]
