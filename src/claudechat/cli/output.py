"""Getting a reply out: its fenced code blocks (``ask -x``, ``/copy code``) and the
clipboard through the terminal (OSC 52, so it works over SSH and inside tmux)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

__all__ = ["copy_target", "fenced_blocks", "osc52"]

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[^\n`]*$")

# Terminals cap what one OSC 52 sequence may carry (xterm: about 100 kB of base64).
OSC52_MAX_BYTES = 74_994


def fenced_blocks(text: str) -> list[str]:
    """The bodies of the Markdown fenced code blocks in ``text``, in order (an unclosed
    last block runs to the end, as a cut reply leaves it)."""
    blocks: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if match is None:
            i += 1
            continue
        fence = match.group("fence")
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append("\n".join(body) + "\n" if body else "")
        i += 1
    return blocks


def osc52(text: str, env: Mapping[str, str]) -> str | None:
    """The escape sequence that puts ``text`` on the clipboard (wrapped for tmux and
    screen); None when it is too long for terminals to take."""
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(data) > OSC52_MAX_BYTES:
        return None
    sequence = f"\x1b]52;c;{data}\x07"
    if env.get("TMUX"):
        return f"\x1bPtmux;{sequence.replace(chr(27), chr(27) * 2)}\x1b\\"
    if env.get("TERM", "").startswith("screen"):
        return f"\x1bP{sequence}\x1b\\"
    return sequence


def copy_target(reply: str, arg: str | None) -> tuple[str, str]:
    """What ``/copy [code [N]]`` copies from ``reply``, and how to name it."""
    from .slash import SlashError, int_arg

    if arg is None:
        return reply, "the last reply"
    word, _, number = arg.partition(" ")
    if word != "code":
        raise SlashError("usage: /copy [code [N]]")
    n = int_arg(number.strip() or None, "code block number") or 1
    blocks = fenced_blocks(reply)
    if len(blocks) < n:
        raise SlashError(f"the last reply has {len(blocks)} code block(s)")
    return blocks[n - 1], f"code block {n}"
