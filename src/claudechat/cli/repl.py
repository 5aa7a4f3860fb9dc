"""The interactive loop: prompt_toolkit input in a terminal, plain lines otherwise.

Input history persists in the user data directory; Alt-Enter (or Esc Enter) inserts a
newline and pasted text keeps its newlines; slash commands and ``@path`` file names
complete with Tab. Ctrl-C
clears the line (or cancels a reply in flight); Ctrl-D leaves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import PRIVATE_MODE, make_private
from ..messages import group_turns
from . import slash
from .prompt_files import complete_path
from .session import Session, banner

if TYPE_CHECKING:
    from rich.console import Console

    from ..chat import Chat
    from ..store.base import Conversation
    from .functions import ToolPrompt
    from .runtime import Runtime

__all__ = ["history_path", "run_repl"]


def history_path() -> Path:
    """Where typed input is remembered between sessions (created 0600: it holds what
    was typed)."""
    import platformdirs

    folder = Path(platformdirs.user_data_dir("claudechat", appauthor=False))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "input-history"
    path.touch(mode=PRIVATE_MODE, exist_ok=True)
    make_private(path)
    return path


def run_repl(
    runtime: Runtime,
    chat: Chat | Callable[[], Chat],
    console: Console,
    *,
    plain: bool,
    conversation: Conversation | None = None,
    files: list[Path] | None = None,
    tool_prompt: ToolPrompt | None = None,
) -> None:
    """Read lines until /quit or Ctrl-D and hand each to a Session.

    ``chat`` may be a function that builds the Chat: it then runs in the background while
    the prompt is already shown (``conversation`` names what it will open, for the banner).
    ``files`` go with the first message.
    """
    session = Session(runtime, chat, console, plain=plain, tool_prompt=tool_prompt)
    first = _early_banner(runtime, conversation) if callable(chat) else session.banner()
    session.say(first, style="dim")
    if files:
        session.attach(files)
    interactive = sys.stdin.isatty() and console.is_terminal
    if not interactive:
        session.build_in_background()
    read = _prompt_reader(session) if interactive else _line_reader()
    while session.running:
        try:
            line = read()
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            break
        try:
            session.handle(line)
        except KeyboardInterrupt:
            session.hint("[cancelled]")
    if session.started and (chat_id := session.chat.id):
        session.hint(f"saved as {chat_id} (claudechat chat --cid {chat_id} to continue)")


def _early_banner(runtime: Runtime, conversation: Conversation | None) -> str:
    """The banner for a conversation whose Chat is not built yet (read from the store)."""
    if conversation is None:
        return banner(runtime.settings.model, None, 0)
    model = conversation.model or runtime.settings.model
    if runtime.settings.sources.get("model") in ("flag", "env"):
        model = runtime.settings.model
    turns = len(group_turns(runtime.store().branch(conversation.id)))
    return banner(model, conversation.id, turns)


def _line_reader() -> Callable[[], str]:
    """Plain stdin lines (piped input, tests)."""

    def read() -> str:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    return read


def _prompt_reader(session: Session) -> Callable[[], str]:
    """A prompt_toolkit PromptSession with history, multi-line keys and completion."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.formatted_text import HTML
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    class SlashCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterable[Completion]:
            text = document.text_before_cursor
            word = text.split(" ")[-1]
            if word.startswith("@"):  # @path: a file to put into the prompt
                for path in complete_path(word[1:]):
                    yield Completion("@" + path, start_position=-len(word))
                return
            for option in slash.complete(text):
                spec = next(s for s in slash.COMMANDS if f"/{s.name}" == option)
                yield Completion(option, start_position=-len(text), display_meta=spec.help)

    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    prompt: PromptSession[str] = PromptSession(
        history=FileHistory(str(history_path())),
        key_bindings=keys,
        completer=SlashCompleter(),
        complete_while_typing=True,
        multiline=False,
        prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
    )
    marker = HTML("<b><ansigreen>›</ansigreen></b> ") if not session.plain else "> "

    def read() -> str:
        # The conversation (and the SDK) load once the prompt is on screen, so the import
        # does not compete with drawing it.
        return prompt.prompt(marker, pre_run=session.build_in_background)

    return read
