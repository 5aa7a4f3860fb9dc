"""--functions FILE.py: the file's public functions become tools; each call is confirmed
unless --yes-tools (declined without a terminal), and shown collapsed in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from emulated import sent_bodies, server_env

from claudechat.cli.functions import load_functions
from claudechat.errors import UserError
from claudechat.testing import Emulator, EmulatorServer, EmuRequest

Run = Callable[..., Result]

TOOLS_FILE = '''
"""Tools for a test."""
from __future__ import annotations

from pathlib import Path


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _helper() -> None:
    """Private: not a tool."""
'''


def _model(request: EmuRequest) -> Any:
    results = [
        b for b in request.messages[-1]["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]  # fmt: skip
    if results:
        return "Got: " + json.dumps([[r["content"], bool(r.get("is_error"))] for r in results])
    return [{"type": "tool_use", "name": "add", "input": {"a": 2, "b": 3}}]


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "mytools.py"
    path.write_text(TOOLS_FILE)
    return path


@pytest.fixture
def tool_server(emulator_server: Callable[..., EmulatorServer]) -> EmulatorServer:
    return emulator_server(Emulator(reply=_model))


def test_functions_are_sent_as_tools_and_run_with_yes_tools(
    run: Run, tool_server: EmulatorServer, tools_file: Path
) -> None:
    result = run("ask", "--functions", str(tools_file), "--yes-tools", "add 2 and 3",
                 env=server_env(tool_server))  # fmt: skip
    assert result.exit_code == 0, result.output
    first = sent_bodies(tool_server)[0]
    assert [t["name"] for t in first["tools"]] == ["add"]
    assert first["tools"][0]["description"] == "Add two numbers."
    assert "▸ tool add(a=2, b=3) → 5" in result.stderr
    assert 'Got: [["5", false]]' in result.stdout


def test_without_a_terminal_each_call_is_declined(
    run: Run, tool_server: EmulatorServer, tools_file: Path
) -> None:
    result = run("ask", "--functions", str(tools_file), "add 2 and 3", env=server_env(tool_server))
    assert result.exit_code == 0, result.output
    assert "pass --yes-tools to allow them" in result.stderr
    assert "▸ tool add(a=2, b=3) declined" in result.stderr
    assert "the user declined to run this tool call" in result.stdout
    assert "true]]" in result.stdout  # sent back as an error


def test_the_repl_asks_before_each_call(
    tool_server: EmulatorServer, tools_file: Path, cli_env: dict[str, str | None]
) -> None:
    import io

    import anthropic
    from rich.console import Console

    from claudechat.cli.functions import ToolPrompt, tools_for
    from claudechat.cli.runtime import Runtime
    from claudechat.cli.session import Session
    from claudechat.config import Settings
    from claudechat.store import MemoryStore

    client = anthropic.Anthropic(api_key="k", base_url=tool_server.url)
    runtime = Runtime(Settings(), env={}, client=client, store=MemoryStore())
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    asked: list[str] = []
    answers = [True, False]

    def ask(question: str) -> bool:
        asked.append(question)
        return answers.pop(0)

    prompt = ToolPrompt(ask)
    runtime.tools = tools_for([tools_file], confirm=prompt, show=lambda line: console.print(line))
    session = Session(runtime, runtime.new_chat(), console, plain=True, tool_prompt=prompt)
    session.handle("add them")
    session.handle("again")
    assert asked == ["Run the tool add(a=2, b=3)?"] * 2
    text = out.getvalue()
    assert "▸ tool add(a=2, b=3) → 5" in text and "▸ tool add(a=2, b=3) declined" in text
    client.close()


def test_bad_function_files_are_usage_errors(run: Run, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    result = run("ask", "--functions", str(broken), "hi")
    assert result.exit_code == 2
    assert f"error: {broken} failed to load: RuntimeError: boom" in result.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("import os\n")
    with pytest.raises(UserError, match="defines no public functions"):
        load_functions(empty)
    with pytest.raises(UserError, match="takes a Python file"):
        load_functions(tmp_path / "tools.txt")


def test_the_reply_view_pauses_for_a_question_and_goes_on() -> None:
    import io

    from rich.console import Console

    from claudechat.cli.render import ReplyView

    out = io.StringIO()
    console = Console(file=out, width=60, force_terminal=True, color_system=None)
    with ReplyView(console, plain=False) as view:
        view.add("Before the tool call.")
        with view.paused():
            console.file.write("QUESTION?\n")
        view.add("\n\nAfter it.")
    text = out.getvalue()
    assert text.index("Before the tool call.") < text.index("QUESTION?")
    assert text.index("QUESTION?") < text.rindex("After it.")
