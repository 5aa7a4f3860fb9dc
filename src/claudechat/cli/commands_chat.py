"""``claudechat chat`` (the REPL) and ``claudechat ask`` (one prompt, for scripts)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import AuthError, ClaudeChatError, TurnStopped
from .options import chat_options, runtime_from

if TYPE_CHECKING:
    from rich.console import Console

    from ..chat import Chat, Reply
    from .functions import ToolPrompt
    from .runtime import Runtime

__all__ = ["ask", "chat"]


def _file_option(f: Any) -> Any:
    return click.option(
        "-f",
        "--file",
        "files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Put this text file into the prompt (repeatable; binary files are refused).",
    )(f)


def _tool_options(f: Any) -> Any:
    f = click.option(
        "--yes-tools", is_flag=True, help="Run --functions tools without asking before each call."
    )(f)
    return click.option(
        "--functions",
        multiple=True,
        metavar="FILE.py",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Give Claude the functions this Python file defines as tools (repeatable; each "
        "call is confirmed first).",
    )(f)


def _use_tools(
    runtime: Runtime, params: dict[str, Any], *, ask: Callable[[str], bool],
    show: Callable[[str], None],
) -> ToolPrompt:  # fmt: skip
    """Load --functions files as the runtime's tools; the prompt that confirms each call."""
    from .functions import ToolPrompt, tools_for

    prompt = ToolPrompt(ask)
    confirm = None if params["yes_tools"] else prompt
    runtime.tools = tools_for(params["functions"], confirm=confirm, show=show)
    return prompt


def _stderr_confirm(question: str) -> bool:
    """Yes / no on stderr when stdin is a terminal; otherwise no, saying why."""
    if not sys.stdin.isatty():
        click.echo("no terminal to confirm the tool call: pass --yes-tools to allow them", err=True)
        return False
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:
        return False


def _continue_options(f: Any) -> Any:
    f = click.option(
        "-y", "--yes", is_flag=True, help="Send a large or costly prompt without asking."
    )(f)
    f = click.option(
        "--cid", metavar="ID", default=None, help="Continue the conversation with this id."
    )(f)
    return click.option(
        "-c", "--continue", "continue_", is_flag=True, help="Continue the latest conversation."
    )(f)


@click.command()
@chat_options
@_continue_options
@_file_option
@_tool_options
def chat(files: tuple[Path, ...], **params: Any) -> None:
    """Chat in the terminal (streamed Markdown, slash commands: type /help)."""
    from .prompt_files import read_text_file
    from .render import make_console, plain_output
    from .repl import run_repl
    from .session import tty_confirm

    for path in files:
        read_text_file(path)  # a missing or binary file fails before the chat starts
    with runtime_from(params) as runtime:
        runtime.assume_yes = params["yes"]
        console = make_console(runtime.env)
        prompt = _use_tools(runtime, params, ask=tty_confirm, show=_dim(console))
        runtime.announce()
        conversation, build = runtime.plan_chat(
            cid=params.get("cid"), continue_latest=params["continue_"]
        )
        run_repl(
            runtime,
            build,
            console,
            plain=plain_output(console, runtime.env),
            conversation=conversation,
            files=list(files),
            tool_prompt=prompt,
        )


def _dim(console: Console) -> Callable[[str], None]:
    """Print a line dim, as is (a tool call, collapsed)."""
    return lambda line: console.print(line, style="dim", markup=False, highlight=False)


def _read_prompt(words: tuple[str, ...], files: tuple[Path, ...] = ()) -> str:
    """The prompt: the arguments, then whatever is piped on stdin (UTF-8 text only), then
    each ``-f`` file in a block that names it."""
    from .preflight import decode_input
    from .prompt_files import with_files

    prompt = " ".join(words).strip()
    stdin = sys.stdin
    if not stdin.isatty():
        piped = decode_input(stdin.buffer.read())
        if piped.strip():
            prompt = f"{prompt}\n\n{piped}" if prompt else piped
    prompt = with_files(prompt, files)
    if not prompt.strip():
        raise click.UsageError("nothing to ask: give a prompt, -f FILE, or pipe text on stdin")
    return prompt


@click.command()
@click.argument("prompt", nargs=-1)
@chat_options
@_continue_options
@_file_option
@_tool_options
@click.option("--json", "as_json", is_flag=True, help="Print reply, usage, cost and ids as JSON.")
@click.option(
    "-x",
    "--extract",
    is_flag=True,
    help="Print only the reply's first fenced code block (all of it when it has none).",
)
@click.option("--no-stream", is_flag=True, help="Print the reply in one write when it is done.")
@click.option(
    "-a",
    "--attach",
    "attach",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Send this image (PNG, JPEG, GIF, WebP) or PDF with the prompt (repeatable).",
)
def ask(prompt: tuple[str, ...], files: tuple[Path, ...], as_json: bool, **params: Any) -> None:
    """Ask one question (PROMPT and/or stdin) and print the reply.

    The conversation is stored: continue it with -c or --cid. Exit codes: 0 ok, 1 API
    error, 2 usage or configuration error, 130 interrupted.
    """
    from ..attachments import AttachmentLimits, load_attachments
    from .preflight import check_prompt

    text = _read_prompt(prompt, files)
    # Checked before anything is opened, stored or sent (the API's limits).
    attached = load_attachments(params.pop("attach"), limits=AttachmentLimits()) or None
    with runtime_from(params) as runtime:
        show = lambda line: click.echo(line, err=True)  # noqa: E731
        tools = _use_tools(runtime, params, ask=_stderr_confirm, show=show)
        conversation = runtime.open_chat(cid=params.get("cid"), continue_latest=params["continue_"])
        confirm = None if params["yes"] else _refuse
        check_prompt(conversation, text, settings=runtime.settings, confirm=confirm)
        try:
            send = functools.partial(conversation.send, text, attachments=attached)
            stream = functools.partial(conversation.stream, text, attachments=attached)
            if as_json:
                _answer_json(conversation, send)
            elif params["extract"] or params["no_stream"]:
                _answer_at_once(conversation, send, extract=params["extract"])
            else:
                _answer(runtime, conversation, stream, tools)
            _note_merged(conversation)
        except (ClaudeChatError, KeyboardInterrupt) as err:
            if not isinstance(err, AuthError) and _unanswered(conversation):
                err.add_note("your message is stored without a reply: the next ask -c sends it")
            elif isinstance(err, TurnStopped):
                err.add_note("what arrived is kept as a partial reply")
            raise


def _answer_json(conversation: Chat, send: Callable[[], Reply]) -> None:
    """Send the prompt; print the reply as JSON with usage, cost and ids."""
    from .busy import retrying, store_unsaved

    reply = retrying(conversation, send)
    store_unsaved(conversation)
    out = {
        "conversation_id": conversation.id,
        "message_id": reply.id,
        "model": reply.message.model,
        "reply": reply.text,
        "stop_reason": reply.stop_reason,
        "truncated": reply.truncated,
        "usage": reply.usage.to_dict(),
        "cost_usd": reply.cost_usd,
    }
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


def _answer_at_once(conversation: Chat, send: Callable[[], Reply], *, extract: bool) -> None:
    """Send the prompt; print the reply (or its first code block) in one write."""
    from .busy import retrying, store_unsaved
    from .output import fenced_blocks

    reply = retrying(conversation, send)
    store_unsaved(conversation)
    out = reply.text
    if extract:
        blocks = fenced_blocks(out)
        out = blocks[0] if blocks else out
    click.echo(out, nl=not out.endswith("\n"))
    _warn_truncated(conversation)


def _answer(
    runtime: Runtime, conversation: Chat, stream: Callable[[], Iterator[str]], prompt: ToolPrompt
) -> None:
    """Send the prompt; print the reply as it streams (paused to confirm a tool call)."""
    from .busy import retrying, store_unsaved
    from .render import ReplyView, make_console, plain_output

    console = make_console(runtime.env)
    with ReplyView(console, plain=plain_output(console, runtime.env)) as view:
        prompt.view = view
        for piece in retrying(conversation, stream):
            view.add(piece)
    prompt.view = None
    store_unsaved(conversation)
    _warn_truncated(conversation)
    sys.stdout.flush()


def _warn_truncated(conversation: Chat) -> None:
    reply = conversation.last_reply
    if reply is not None and reply.truncated:
        click.echo("warning: the reply was cut at max_tokens (raise --max-tokens)", err=True)


def _refuse(question: str) -> bool:
    """``ask`` never waits for an answer: a prompt that needs one is refused (exit 2)."""
    return False


def _unanswered(chat: Chat) -> bool:
    history = chat.history
    return bool(history) and history[-1].is_user_text


def _note_merged(chat: Chat) -> None:
    """Say when the prompt went out together with an earlier one that had got no reply
    (looked at after the turn: another writer may have answered it meanwhile)."""
    history = chat.history
    users = [i for i, m in enumerate(history) if m.is_user_text]
    if len(users) >= 2 and users[-2] == users[-1] - 1:
        click.echo("note: the message before this one had got no reply; both were sent "
                   "together", err=True)  # fmt: skip
