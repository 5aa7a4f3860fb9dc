"""Rendering for people: streamed Markdown replies, status lines, transcripts, tables.

Rich output in a terminal; plain text when output is not a terminal or ``NO_COLOR`` is set.
Streaming prints finished Markdown blocks once, above a small live area that holds only
the block being written, so long replies neither flicker nor repaint the whole screen.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from ..accounting import CostReport
    from ..context.report import WindowFill
    from ..messages import Message
    from ..store.base import ConversationInfo
    from ..usage import Usage

__all__ = [
    "ReplyView",
    "make_console",
    "plain_output",
    "split_stable",
    "status_line",
    "usd",
]

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CONTINUES = re.compile(r"^(\s+|\s{0,3}([-*+]|\d+[.)])\s|\s{0,3}>|\s{0,3}\|)")


def make_console(
    env: Mapping[str, str] | None = None, *, file: IO[str] | None = None, stderr: bool = False
) -> Console:
    """A rich Console honouring NO_COLOR from ``env``."""
    from rich.console import Console

    env = os.environ if env is None else env
    no_color = bool(env.get("NO_COLOR"))
    return Console(file=file, stderr=stderr, no_color=no_color, highlight=False)


def plain_output(console: Console, env: Mapping[str, str] | None = None) -> bool:
    """True when replies should be plain text: not a terminal, or NO_COLOR set."""
    env = os.environ if env is None else env
    return not console.is_terminal or bool(env.get("NO_COLOR"))


def usd(value: float | None) -> str:
    """Dollars for people: '$0.0042', '$1.25', or '?' when the price is unknown."""
    if value is None:
        return "$?"
    if value == 0:
        return "$0"
    if abs(value) < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def short_id(conversation_id: str, width: int = 8) -> str:
    """The end of an id: ids start with their creation time, so the end tells them apart,
    and every command takes the last 6 characters or more."""
    return conversation_id[-width:]


def when(timestamp: float, *, now: float | None = None) -> str:
    """A short local time: 'HH:MM' today, else 'YYYY-MM-DD HH:MM'."""
    moment = _dt.datetime.fromtimestamp(timestamp)
    today = _dt.datetime.fromtimestamp(now if now is not None else time.time()).date()
    return moment.strftime("%H:%M" if moment.date() == today else "%Y-%m-%d %H:%M")


def split_stable(text: str) -> tuple[str, str]:
    """Split streamed Markdown into finished blocks and the block still being written.

    A block is finished at a blank line outside a code fence when the next line starts a
    new block (not a list item, quote, table row or indented continuation).
    """
    lines = text.split("\n")
    in_fence = False
    cut = 0
    for i, line in enumerate(lines[:-1]):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        following = lines[i + 1]
        blank_before_block = line.strip() == "" and following.strip()
        if not in_fence and blank_before_block and not _CONTINUES.match(following):
            cut = i + 1
    if cut == 0:
        return "", text
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


class _Tail:
    """The live area: parses the unfinished block only when the screen refreshes, and
    shows only its last screenful while it grows (a taller live area cannot be redrawn)."""

    def __init__(self, view: ReplyView) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.markdown import Markdown
        from rich.segment import Segment
        from rich.spinner import Spinner

        view = self.view
        if not view.started:
            yield Spinner("dots", text=" thinking…", style="dim")
            return
        if not view.tail.strip():
            return
        markdown = Markdown(view.tail, code_theme=view.code_theme)
        if view.final:
            yield markdown
            return
        lines = console.render_lines(markdown, options.update(height=None), pad=False)
        rows = max(3, console.size.height - 2)
        for line in lines[-rows:]:
            yield from line
            yield Segment.line()


class HeldInterrupt:
    """Ctrl-C held while the screen is written, raised right after: an interrupt inside
    rich's write leaves its buffer to be printed again and the live area out of step."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        """Take over SIGINT (only the main thread can)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True

    def uninstall(self) -> None:
        """Give SIGINT back to whoever had it."""
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self._previous == signal.SIG_IGN:
            return
        if self.depth:
            self.pending = True
        elif callable(self._previous):
            self._previous(signum, frame)
        else:
            raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        """Screen output inside; a Ctrl-C that came meanwhile is raised when it is done."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            self.pending = False
            raise KeyboardInterrupt


class ReplyView:
    """Show a reply as it streams: a spinner until the first token, then Markdown.

    Use as a context manager and ``add`` each piece; plain mode writes the text as is.
    """

    code_theme = "monokai"

    def __init__(self, console: Console, *, plain: bool, refresh_per_second: float = 12) -> None:
        self.console = console
        self.plain = plain
        self.refresh_per_second = refresh_per_second
        self.text = ""
        self.tail = ""
        self.started = False
        self.final = False
        self._live: Any = None
        self._interrupt = HeldInterrupt()
        self._tty: tuple[int, list[Any]] | None = None

    def __enter__(self) -> ReplyView:
        if not self.plain:
            from rich.live import Live

            self._interrupt.install()
            self._tty = _quiet_terminal()
            try:
                with self._interrupt.held():
                    self._live = Live(
                        _Tail(self),
                        console=self.console,
                        refresh_per_second=self.refresh_per_second,
                        transient=False,
                        vertical_overflow="visible",
                    )
                    self._live.start()
            except KeyboardInterrupt:
                self.__exit__()
                raise
        return self

    def add(self, piece: str) -> None:
        """Take the next piece of the reply."""
        if not piece:
            return
        self.started = True
        self.text += piece
        if self.plain:
            self.console.file.write(piece)
            self.console.file.flush()
            return
        self.tail += piece
        done, self.tail = split_stable(self.tail)
        if done.strip():
            from rich.markdown import Markdown

            with self._interrupt.held():
                self._live.console.print(Markdown(done, code_theme=self.code_theme))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop drawing (and give the terminal its echo back) while the block asks the
        user something; what was shown so far stays, and drawing resumes after."""
        if self._live is None:
            yield
            return
        with self._interrupt.held():
            self.started = True
            self.final = True
            self._live.stop()  # its last frame shows the unfinished block: keep it shown
            self.tail, self.final = "", False
        _restore_terminal(self._tty)
        try:
            yield
        finally:
            self._tty = _quiet_terminal()
            self._live.start()

    def __exit__(self, *exc: object) -> None:
        try:
            if self._live is not None:
                self.started = True  # stop the spinner even when nothing arrived
                self.final = True  # the last render (in stop) shows the whole last block
                self._interrupt.depth += 1  # a Ctrl-C now is too late to cut anything
                try:
                    self._live.stop()
                finally:
                    self._live = None
                    self._interrupt.depth -= 1
            elif self.text and not self.text.endswith("\n"):
                self.console.file.write("\n")
                self.console.file.flush()
        finally:
            self._interrupt.pending = False
            self._interrupt.uninstall()
            _restore_terminal(self._tty)
            self._tty = None


def _quiet_terminal() -> tuple[int, list[Any]] | None:
    """Stop the terminal echoing keys (and "^C") while a reply is drawn: an echo moves the
    cursor under the live region, which then draws its first lines a second time. Returns
    what to restore; None when stdin is not a terminal."""
    try:
        import termios

        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        return fd, saved
    except (ImportError, OSError, ValueError, AttributeError):
        return None


def _restore_terminal(saved: tuple[int, list[Any]] | None) -> None:
    if saved is None:
        return
    import termios

    with contextlib.suppress(OSError, termios.error):
        termios.tcsetattr(saved[0], termios.TCSANOW, saved[1])


NARROW = 60  # columns below which tables and the status line take their narrow form


def wrap_parts(parts: Iterable[str], width: int, sep: str = " · ") -> str:
    """Join ``parts`` with ``sep``, starting a new line between parts (never inside one)
    where the next would pass ``width``."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return "\n".join(lines)


def status_line(
    usage: Usage,
    turn_cost: float | None,
    total_cost: float | None,
    fill: WindowFill | None,
    *,
    width: int | None = None,
) -> str:
    """After a reply: tokens in / out, cache-read share, turn and conversation cost, fill
    (wrapped between its parts to ``width`` columns when given)."""
    total_in = usage.total_input_tokens + usage.iteration_input_tokens
    parts = [f"in {total_in:,}", f"out {usage.output_tokens + usage.iteration_output_tokens:,}"]
    ratio = usage.cache_hit_ratio
    parts.append(f"cache {ratio:.0%}" if ratio is not None else "cache –")
    parts.append(f"turn {usd(turn_cost)}")
    parts.append(f"total {usd(total_cost)}")
    if fill is not None and fill.budget:
        mark = "" if fill.exact else "~"
        parts.append(f"window {mark}{fill.tokens:,}/{fill.budget:,} ({fill.ratio:.0%})")
    return " · ".join(parts) if width is None else wrap_parts(parts, width)


def fill_lines(fill: WindowFill) -> list[str]:
    """/tokens: how full the window is and what holds it."""
    if not fill.budget or not (fill.tokens or fill.messages_total):
        budget = f" (budget {fill.budget:,} tokens)" if fill.budget else ""
        return [f"nothing sent yet{budget}"]
    exact = "exact" if fill.exact else "estimated"
    lines = [
        f"window: {fill.tokens:,} of {fill.budget:,} tokens ({fill.ratio:.0%}, {exact})",
        f"  system and tools  {fill.system_tokens:>9,}",
        f"  summary           {fill.summary_tokens:>9,}",
        f"  injected          {fill.injected_tokens:>9,}",
        f"  messages          {fill.messages_tokens:>9,}"
        f"  ({fill.messages_sent} of {fill.messages_total} messages, {fill.turns_sent} turns sent)",
    ]
    if fill.context_window:
        lines.append(f"model window {fill.context_window:,}, max output {fill.max_tokens:,}")
    return lines + dropped_lines(fill.notes.get("ledger"))


def dropped_lines(record: object) -> list[str]:
    """What left the request and which facts only the fact ledger holds now."""
    if not isinstance(record, dict) or not record.get("messages"):
        return []
    line = (
        f"dropped: {record['messages']:,} messages; {record.get('facts', 0):,} facts only in "
        f"the ledger, {record.get('sent', 0):,} sent"
    )
    first = [str(v) for v in record.get("first") or []]
    return [line] + ([f"  newest: {', '.join(first)}"] if first else [])


def cost_lines(report: CostReport, *, width: int | None = None) -> list[str]:
    """Tokens by kind, the cache hit ratio and USD (the body of /cost and `claudechat cost`);
    under NARROW columns, each column only as wide as what it holds."""
    shown = [ln for ln in report.lines if ln.tokens or ln.kind in ("input", "cache read", "output")]
    rows = [(ln.kind, f"{ln.tokens:,}", usd(ln.cost_usd)) for ln in shown]
    rows = [("kind", "tokens", "USD"), *rows, ("total", "", usd(report.cost_usd))]
    if width is not None and width < NARROW:
        k, t, u = (max(len(r[i]) for r in rows) for i in range(3))
        widths = (k + 1, t + 2, u + 2)
    else:
        widths = (22, 12, 12)
    lines = [f"{a:<{widths[0]}}{b:>{widths[1]}}{c:>{widths[2]}}" for a, b, c in rows]
    ratio = report.cache_hit_ratio
    lines.append(f"cache hit ratio: {ratio:.1%}" if ratio is not None else "cache hit ratio: –")
    for purpose, cost in sorted(report.by_purpose.items()):
        if purpose != "reply":
            lines.append(f"of which {purpose}: {usd(cost)}")
    return lines


def conversation_rows(infos: Iterable[ConversationInfo]) -> list[tuple[str, ...]]:
    """Rows for ``list``: id, updated, turns, tokens, cost, title."""
    rows: list[tuple[str, ...]] = []
    for info in infos:
        c = info.conversation
        rows.append(
            (
                c.id,
                when(c.updated_at),
                str(info.turns),
                f"{info.tokens:,}",
                usd(info.cost_usd),
                c.title or "(untitled)",
            )
        )
    return rows


def print_conversations(
    console: Console, infos: Iterable[ConversationInfo], *, plain: bool
) -> None:
    """The table of conversations (aligned plain columns when not a terminal; on a narrow
    terminal, ids by their end and two lines per conversation)."""
    rows = conversation_rows(infos)
    if not rows:
        console.print("no conversations yet", markup=False)
        return
    if console.is_terminal and console.width < NARROW:
        _print_narrow(console, rows)
        return
    head = ("id", "updated", "turns", "tokens", "cost", "title")
    if plain:
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
        for r in [head, *rows]:
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
            cells += [r[i].rjust(widths[i]) for i in (2, 3, 4)]
            console.print("  ".join([*cells, r[5]]), markup=False, soft_wrap=True)
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    for name in ("turns", "tokens", "cost"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    console.print(table)


def _print_narrow(console: Console, rows: list[tuple[str, ...]]) -> None:
    """Each conversation as two short lines: its id's end and title, then its figures."""
    from rich.text import Text

    for cid, updated, turns, tokens, cost, title in rows:
        head = Text(short_id(cid), style="cyan")
        head.append(f"  {title}", style="bold")
        head.truncate(console.width, overflow="ellipsis")
        console.print(head, no_wrap=True)
        figures = [updated, f"{turns} turns", f"{tokens} tok", cost]
        console.print(wrap_parts(figures, console.width - 2).replace("\n", "\n  "),
                      markup=False, style="dim", highlight=False)  # fmt: skip


def message_label(m: Message, *, writing: bool = False) -> str:
    """'You' / 'Claude', with the model and a mark for partial replies: interrupted, or
    being written (``writing``: a turn holds the conversation now and this is its reply)."""
    if m.role == "user":
        return "You" if m.is_user_text else "Tool results"
    label = f"Claude ({m.model})" if m.model else "Claude"
    if m.status == "complete":
        return label
    return label + (" [being written]" if writing else " [interrupted]")


def block_text(block: Mapping[str, Any]) -> str | None:
    """A block as text for a transcript (thinking and unknown blocks left out)."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return f"[tool call {block.get('name')}: {block.get('input')}]"
    if kind == "tool_result":
        content = block.get("content", "")
        if not isinstance(content, str):
            content = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        return f"[tool result: {content}]"
    if kind == "compaction":
        return "[earlier context compacted by the server]"
    if kind in ("image", "document"):
        return f"[{kind}]"
    return None


def print_transcript(
    console: Console,
    messages: Sequence[Message],
    *,
    plain: bool,
    title: str | None = None,
    writing: bool = False,
) -> None:
    """A conversation's active branch, message by message; ``writing``: a turn holds the
    conversation now (its last partial reply is being written, not interrupted)."""
    if title:
        if plain:
            console.print(f"# {title}\n", markup=False, soft_wrap=True)
        else:
            from rich.rule import Rule

            console.print(Rule(title, style="bold"))
    for i, m in enumerate(messages):
        body = "\n\n".join(t for b in m.content if (t := block_text(b)))
        label = message_label(m, writing=writing and i == len(messages) - 1)
        if plain:
            console.print(f"## {label}\n\n{body}\n", markup=False, soft_wrap=True)
            continue
        from rich.markdown import Markdown
        from rich.text import Text

        style = "bold green" if m.role == "user" else "bold magenta"
        console.print(Text(label, style=style))
        console.print(Markdown(body or "(empty)", code_theme=ReplyView.code_theme))
        console.print()


def snippet_text(snippet: str) -> str:
    """A search snippet on one line (matches stay marked « »)."""
    return " ".join(snippet.split())
