"""A chat session: what the REPL does with each line, without owning the terminal.

``Session.handle(line)`` sends a message (streamed and rendered) or runs a slash command.
Errors become one-line messages and the session goes on; Ctrl-C during a reply cancels
it (Chat stores the partial reply). The REPL in ``repl.py`` only reads lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..messages import Message, text_of
from ..store.base import turn_held
from . import render, slash
from .runtime import BackgroundChat, Runtime, resolve_id, retrying
from .slash import SlashError

if TYPE_CHECKING:
    from rich.console import Console

    from ..accounting import CostReport
    from ..attachments import Attachment
    from ..chat import Chat
    from .functions import ToolPrompt

__all__ = ["Session"]

Editor = Callable[[str], str | None]
Confirm = Callable[[str], bool]
Choose = Callable[[str], str | None]
UNANSWERED = "your message got no reply: /retry sends it again (a new message is sent with it)"


def _click_editor(text: str) -> str | None:
    import click

    return click.edit(text, require_save=True)


def tty_confirm(question: str) -> bool:
    """Ask yes / no in a terminal; without one, the answer is no."""
    import sys

    import click

    if not sys.stdin.isatty():
        return False
    try:
        return click.confirm(question, default=False)
    except click.Abort:  # Ctrl-C or Ctrl-D at the question
        return False


def _tty_choose(question: str) -> str | None:
    """A line typed in a terminal; None without one (or on Ctrl-C / Ctrl-D)."""
    import sys

    import click

    if not sys.stdin.isatty():
        return None
    try:
        return str(click.prompt(question, default="", show_default=False))
    except click.Abort:
        return None


class Session:
    """The state of one interactive chat: the current Chat, the console, the running flag."""

    def __init__(
        self,
        runtime: Runtime,
        chat: Chat | Callable[[], Chat],
        console: Console,
        *,
        plain: bool,
        editor: Editor | None = None,
        confirm: Confirm | None = None,
        choose: Choose | None = None,
        tool_prompt: ToolPrompt | None = None,
    ) -> None:
        self.runtime = runtime
        self.choose = choose or _tty_choose
        self.tool_prompt = tool_prompt  # confirms --functions calls, pausing the reply
        self.console = console
        self.plain = plain
        self.editor = editor or _click_editor
        self.confirm = confirm or tty_confirm
        self.running = True
        self._chat: Chat | None = None
        self._base_cost: float | None = 0.0
        self._pending: BackgroundChat | None = None
        self._files: list[Path] = []  # -f files, sent with the next message
        self._attachments: list[Attachment] = []  # /attach images and PDFs, the same
        if callable(chat):
            self._pending = BackgroundChat(chat)  # built while the prompt shows
        else:
            self._switch(chat)

    def build_in_background(self) -> None:
        """Start building the conversation now (the REPL calls this once its prompt shows)."""
        if self._pending is not None:
            self._pending.start()

    @property
    def started(self) -> bool:
        """True once the conversation object exists (it may still be building)."""
        return self._chat is not None

    @property
    def chat(self) -> Chat:
        """The current conversation (waiting for it if it is still being built)."""
        if self._chat is None:
            assert self._pending is not None
            self._switch(self._pending.result())
            self._pending = None
        assert self._chat is not None
        return self._chat

    # output ------------------------------------------------------------------------------

    @property
    def width(self) -> int | None:
        """The terminal's width (None when output is not a terminal: lines stay whole)."""
        return self.console.width if self.console.is_terminal else None

    def say(self, text: str, *, style: str | None = None) -> None:
        """One line (or a few) to the user, never interpreted as markup."""
        if self.plain or style is None:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self.console.print(text, markup=False, highlight=False, style=style, soft_wrap=True)

    def hint(self, text: str) -> None:
        """A dim one-line hint or error."""
        self.say(text, style="dim")

    def error(self, text: str) -> None:
        """A one-line error that does not end the session."""
        self.say(f"error: {text}", style="bold red")

    # the loop body -----------------------------------------------------------------------

    def handle(self, line: str) -> None:
        """Run a slash command or send a message; errors are one line and the session
        goes on (except AuthError: the key will not fix itself)."""
        from ..errors import AuthError, ClaudeChatError

        text = line.strip()
        if not text:
            return
        command = slash.is_command(text)
        body = (line[1:] if line.lstrip().startswith("//") else line).strip("\n")
        try:
            _ = self.chat  # a conversation that could not be built ends the session
        except KeyboardInterrupt:
            if command:
                raise
            self._keep_unsent(body)  # Ctrl-C while the first conversation was loading
            return
        try:
            if command:
                slash.dispatch(self, slash.parse(text))
            else:
                self.send(body)
        except SlashError as err:
            self.hint(str(err))
        except AuthError:
            raise
        except (ClaudeChatError, OSError) as err:
            from .exits import describe

            self.error(describe(err))
            if self.unanswered():
                self.hint(f"[{UNANSWERED}]")

    def unanswered(self) -> bool:
        """True when the active branch ends with a user message that got no reply."""
        history = self.chat.history
        return bool(history) and history[-1].is_user_text

    def _keep_unsent(self, text: str) -> None:
        """Store a message whose sending was cancelled before it started, unsent."""
        from ..errors import ClaudeChatError
        from .preflight import check_prompt

        self.hint("[cancelled before sending — keeping your message]")
        chat = self.chat  # the build goes on; a second Ctrl-C gives up waiting
        try:
            check_prompt(chat, text, settings=self.runtime.settings, confirm=None)
        except ClaudeChatError as err:
            from .exits import describe

            self.error(f"not kept: {describe(err)}")
            return
        unsent = chat.stream(text)  # the user message is stored before any request
        if isinstance(unsent, Generator):
            unsent.close()  # and none is made
        self.hint(f"[{UNANSWERED}]")

    def attach(self, paths: list[Path]) -> None:
        """Files to put into the next message (``chat -f``)."""
        from .prompt_files import describe_files

        self._files.extend(paths)
        self.hint(f"[{describe_files(paths)}: sent with your next message]")

    def send(self, text: str) -> None:
        """Send a message (with its ``-f`` and ``@path`` files inlined) and show the reply
        as it streams."""
        from .preflight import check_prompt
        from .prompt_files import at_paths, describe_files, with_files

        chat = self.chat
        files = list(dict.fromkeys([*self._files, *at_paths(text)]))
        if files:
            text = with_files(text, files)
        confirm = None if self.runtime.assume_yes else self.confirm
        check_prompt(chat, text, settings=self.runtime.settings, confirm=confirm)
        if files:
            self._files = []
            self.hint(f"[with {describe_files(files)}]")
        if self.unanswered():
            self.hint("[sent together with your earlier message that got no reply]")
        attached, self._attachments = self._attachments or None, []
        self._stream(lambda: retrying(chat, lambda: chat.stream(text, attachments=attached)))

    def cmd_attach(self, arg: str) -> None:
        """Check an image or PDF now; it goes with the next message."""
        from ..attachments import load_attachments

        chat = self.chat
        found = load_attachments([Path(arg.strip()).expanduser()],
                                 limits=chat.attachment_limits,
                                 uploading=chat.attachments_upload)  # fmt: skip
        self._attachments.extend(found)
        for a in found:
            self.hint(f"[{a.name} ({a.media_type}, {len(a.data):,} bytes): sent with your "
                      "next message]")  # fmt: skip

    def _stream(self, start: Callable[[], Iterator[str]]) -> None:
        """Render a streamed reply; Ctrl-C cancels it (the partial reply is kept)."""
        from ..errors import StreamInterrupted, TurnStopped

        interrupted: str | None = None
        view = render.ReplyView(self.console, plain=self.plain)
        pieces: Iterator[str] | None = None
        if self.tool_prompt is not None:
            self.tool_prompt.view = view
        try:
            with view:
                pieces = start()
                for piece in pieces:
                    view.add(piece)
        except KeyboardInterrupt:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # the partial reply is stored now, before the status line
            if pieces is None:  # still waiting for another writer: nothing was stored
                self.hint("[cancelled before it was sent: nothing was stored; ↑ brings it back]")
                return
            interrupted = "cancelled"
        except StreamInterrupted as err:
            from .exits import describe

            interrupted = describe(err)
        except TurnStopped:  # the partial reply is stored already
            interrupted = "stopped from another client"
        finally:
            if self.tool_prompt is not None:
                self.tool_prompt.view = None
        if interrupted is not None and self.unanswered():  # no reply text arrived
            self.hint(f"[{interrupted} before the reply began — {UNANSWERED}]")
        elif interrupted is not None:
            self.hint(f"[{interrupted} — the partial reply is kept]")
        if self.chat.unsaved:
            self.error("the store failed: the reply is kept in memory and stored with your next "
                       "message")  # fmt: skip
        self._status()
        self._auto_title()

    def _status(self) -> None:
        chat = self.chat
        ledger = chat.ledger
        if not ledger.turn_usage.requests:
            return  # nothing was billed (a reply cancelled before its usage arrived)
        total = _add(self._base_cost, chat.cost_usd)
        try:
            fill = chat.window_fill()
        except Exception:  # the status line must never end the session
            fill = None
        line = render.status_line(
            ledger.turn_usage, ledger.turn_cost_usd, total, fill, width=self.width
        )
        self.say(line, style="dim")

    def _switch(self, chat: Chat) -> None:
        """Make ``chat`` the current conversation; remember what it cost before."""
        from ..accounting import store_cost_report

        self._chat = chat
        if chat.id is None:
            self._base_cost = 0.0
        else:
            self._base_cost = store_cost_report(chat.store, [chat.id]).cost_usd

    def banner(self) -> str:
        """The line shown when the session starts."""
        chat = self.chat
        return banner(chat.model.name, chat.id, len(chat.turns))

    # slash commands ----------------------------------------------------------------------

    def cmd_help(self, arg: str | None) -> None:
        """/help [command]"""
        for line in slash.help_lines(arg):
            self.say(line)

    def cmd_quit(self) -> None:
        """/quit"""
        self.running = False

    def cmd_new(self) -> None:
        """/new"""
        self._switch(self.runtime.new_chat())
        self.hint("new conversation")

    def cmd_list(self, arg: str | None) -> None:
        """/list [N]"""
        limit = slash.int_arg(arg, "N") or 10
        infos = self.chat.store.list_conversations(limit=limit)
        render.print_conversations(self.console, infos, plain=self.plain)

    def cmd_open(self, arg: str | None) -> None:
        """/open [ID or words]"""
        cid = self._pick(arg)
        if cid is None:
            return
        self._switch(self.runtime.resume(cid))
        chat = self.chat
        title = chat.conversation.title if chat.conversation else None
        self.hint(f"opened {cid} — {title or '(untitled)'} ({len(chat.turns)} turns)")
        turns = chat.turns
        if turns:  # a partial last reply may be one another writer is streaming now
            writing = turn_held(chat.store, cid)
            render.print_transcript(self.console, turns[-1].messages, plain=self.plain,
                                    writing=writing)  # fmt: skip

    def _pick(self, arg: str | None) -> str | None:
        """The id ``/open`` names, or one picked by fuzzy match over titles and first
        lines (asking while several match; None when cancelled or nothing matches)."""
        from ..errors import ConversationNotFound
        from .picker import candidates, pick

        store = self.chat.store
        if arg is not None:
            try:
                return resolve_id(store, arg)
            except ConversationNotFound:
                pass
        return pick(candidates(store), arg or "", say=self.say, choose=self.choose,
                    hint=self.hint)  # fmt: skip

    def cmd_title(self, arg: str) -> None:
        """/title TEXT"""
        from .titles import clean_title

        chat = self.chat
        title = clean_title(arg, width=200)
        if chat.id is None:
            raise SlashError("nothing to name yet: send a message first")
        if not title:
            raise SlashError("usage: /title TEXT")
        chat.store.update_conversation(chat.id, title=title)
        self.hint(f"title: {title}")

    def _auto_title(self) -> None:
        """Name a new conversation after its first exchange when ``auto_title`` is on
        (a failure is a hint: the title is a nicety)."""
        from ..errors import ClaudeChatError
        from .titles import generate_title, wants_title

        if not wants_title(self.runtime, self.chat):
            return
        try:
            title = generate_title(self.runtime, self.chat)
        except ClaudeChatError as err:
            from .exits import describe

            self.hint(f"[no title: {describe(err)}]")
            return
        if title:
            self.hint(f"[title: {title}]")

    def cmd_retry(self) -> None:
        """/retry"""
        chat = self.chat
        if not chat.turns:
            raise SlashError("nothing to retry yet")
        self._stream(lambda: chat.retry_stream())

    def cmd_edit(self, arg: str | None) -> None:
        """/edit [text]"""
        chat = self.chat
        last = next((m for m in reversed(chat.history) if m.is_user_text), None)
        if last is None:
            raise SlashError("nothing to edit yet")
        text = arg if arg is not None else self.editor(last.text)
        if text is None or not text.strip() or text.strip() == last.text.strip():
            self.hint("edit cancelled: the message is unchanged")
            return
        self._stream(lambda: chat.edit_stream(last.id, text.strip("\n")))

    def cmd_undo(self) -> None:
        """/undo"""
        turn = self.chat.undo()
        if turn is None:
            self.hint("nothing to undo")
        else:
            self.hint(f"undone: {preview(turn.first)} (still stored; /branch to get it back)")

    def cmd_branch(self, arg: str | None) -> None:
        """/branch [N]"""
        chat = self.chat
        leaves = chat.branches()
        if not leaves:
            raise SlashError("no branches yet")
        choice = slash.int_arg(arg, "branch number")
        if choice is not None:
            if choice > len(leaves):
                raise SlashError(f"there are {len(leaves)} branches (see /branch)")
            chat.checkout(leaves[choice - 1].id)
            self.hint(f"switched to branch {choice} ({len(chat.turns)} turns)")
            return
        head = chat.history[-1].id if chat.history else None
        if head is not None and all(leaf.id != head for leaf in leaves):
            at = next((m for m in reversed(chat.history) if m.is_user_text), chat.history[-1])
            self.say(
                f"* {len(chat.history)} messages · {preview(at, 40)} (current: inside a "
                "branch, after /undo; your next message starts a new one)"
            )
        for n, leaf in enumerate(leaves, 1):
            path = chat.store.branch(chat.id or "", leaf.id)
            asked = next((m for m in reversed(path) if m.is_user_text), leaf)
            mark = "*" if leaf.id == head else " "
            partial = " [interrupted]" if leaf.status != "complete" else ""
            self.say(
                f"{mark} {n}. {len(path)} messages · {preview(asked, 40)} → "
                f"{preview(leaf, 40)}{partial}"
            )
        self.hint("/branch N switches")

    def cmd_fork(self) -> None:
        """/fork"""
        forked = self.chat.fork()
        assert forked.id is not None
        self._switch(self.runtime.resume(forked.id))
        self.hint(f"forked into {forked.id}: you are now in the copy")

    def cmd_system(self, arg: str | None) -> None:
        """/system [text] (/system - clears it)"""
        if arg is None:
            self.say(self.chat.system or "(no system prompt)")
            return
        self.chat.system = None if arg == "-" else arg
        self.hint("system prompt cleared" if arg == "-" else "system prompt set")

    def cmd_template(self, arg: str) -> None:
        """/template NAME"""
        from .templates import load

        template = load(arg, self.runtime.env)
        if template.system is not None:
            self.chat.system = template.system
        if template.model is not None:
            self.cmd_model(template.model)
        said = f"template {template.name}: system prompt " + ("set" if template.system else "kept")
        self.hint(said)
        if template.strategy and template.strategy != self.runtime.settings.strategy:
            self.hint(f"(its strategy, {template.strategy}, applies to a chat started with "
                      f"-t {template.name})")  # fmt: skip

    def cmd_model(self, arg: str | None) -> None:
        """/model [name]"""
        if arg is None:
            from ..models.capabilities import known_models

            info = self.chat.info
            self.say(
                f"{info.name} (window {info.context_window:,}, max output {info.max_output:,})"
            )
            self.hint("known: " + ", ".join(known_models()))
            return
        from ..models.aliases import check_model_name
        from ..models.anthropic import AnthropicModel

        name = check_model_name(arg, self.runtime.settings.aliases)  # "did you mean" for typos
        self.chat.set_model(AnthropicModel(name, client=self.runtime.client()))
        self.hint(f"model: {name}")

    def cmd_tokens(self) -> None:
        """/tokens"""
        for line in render.fill_lines(self.chat.window_fill()):
            self.say(line)

    def cmd_cost(self) -> None:
        """/cost"""
        for line in render.cost_lines(self.cost_report(), width=self.width):
            self.say(line)

    def cost_report(self) -> CostReport:
        """What the conversation cost: every stored request once (replies, summaries)."""
        from ..accounting import cost_report, store_cost_report

        chat = self.chat
        return store_cost_report(chat.store, [chat.id]) if chat.id else cost_report([])

    def cmd_compact(self) -> None:
        """/compact: only the summary strategy can compact on demand; say so otherwise."""
        from ..context.summary import RollingSummary

        if not any(isinstance(p, RollingSummary) for p in self.chat.context.policies):
            strategy = self.runtime.settings.strategy
            raise SlashError(
                f"nothing to compact: the {strategy} strategy drops or compacts old turns "
                "only when the window fills; for a summary on demand, start the chat "
                "with --strategy summary"
            )
        self.chat.compact()
        self.hint("the next message will be sent with the earlier turns summarised")

    def cmd_search(self, arg: str) -> None:
        """/search QUERY"""
        hits = self.chat.store.search(arg, limit=10)
        if not hits:
            self.hint("no matches")
        for hit in hits:
            self.say(f"{hit.conversation_id}  {hit.role:<9} {render.snippet_text(hit.snippet)}")

    def cmd_recall(self, arg: str | None) -> None:
        """/recall [text]"""
        from .recall import recall_preview

        for line in recall_preview(self.chat, arg, postgres=self.runtime.postgres):
            self.say(line)

    def cmd_memory(self, arg: str | None) -> None:
        """/memory [PATH]"""
        from ..errors import ClaudeChatError
        from .commands_memory import memory_report

        try:
            lines = memory_report(self.chat, arg)
        except ClaudeChatError as err:
            raise SlashError(str(err)) from None
        for line in lines:
            self.say(line)

    def last_reply_text(self) -> str:
        """The text of the newest reply on the active branch (SlashError when none)."""
        reply = next((m for m in reversed(self.chat.history) if m.role == "assistant"), None)
        text = text_of(reply.content) if reply is not None else ""
        if not text.strip():
            raise SlashError("no reply to copy yet")
        return text

    def cmd_copy(self, arg: str | None) -> None:
        """/copy [code [N]]"""
        from .output import copy_target, osc52

        text, what = copy_target(self.last_reply_text(), arg)
        sequence = osc52(text, self.runtime.env)
        if not self.console.is_terminal or self.runtime.env.get("TERM") == "dumb":
            raise SlashError("cannot copy: this is not a terminal (/export PATH saves to a file)")
        if sequence is None:
            raise SlashError(f"{what} is too long for the terminal's clipboard: /export PATH")
        self.console.file.write(sequence)
        self.console.file.flush()
        self.hint(f"[copied {what} ({len(text):,} characters) through the terminal; if the "
                  "clipboard stays empty, the terminal does not allow it (OSC 52)]")  # fmt: skip

    def cmd_export(self, arg: str | None) -> None:
        """/export [PATH]"""
        chat = self.chat
        if chat.id is None:
            raise SlashError("nothing to export yet")
        path = Path(os.path.expanduser(arg)) if arg else Path(f"claudechat-{chat.id}.md")
        from .commands_store import export_text
        from .files import write_private

        fmt = "json" if path.suffix.lower() == ".json" else "md"
        text = export_text(chat.store, chat.id, fmt)
        overwrite = path.is_file()
        if overwrite and not self.confirm(f"{path} exists: overwrite it?"):
            raise SlashError(f"not exported: {path} exists")
        write_private(path, text, overwrite=overwrite)
        self.hint(f"exported to {path}")


def banner(model: str, conversation_id: str | None, turns: int) -> str:
    """'claudechat · model · conversation (N turns) · /help for commands'."""
    where = f"conversation {conversation_id}" if conversation_id else "new conversation"
    more = f" ({turns} turns)" if turns else ""
    return f"claudechat · {model} · {where}{more} · /help for commands"


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def preview(message: Message, width: int = 60) -> str:
    """A one-line preview of a message's text."""
    text = " ".join(text_of(message.content).split())
    return text if len(text) <= width else text[: width - 1] + "…"
