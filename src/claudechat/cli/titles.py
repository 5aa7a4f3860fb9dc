"""Conversation titles: set by hand (``rename``, ``/title``) or, when the ``auto_title``
configuration key is on, written by the cheap model after the first exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messages import text_of

if TYPE_CHECKING:
    from ..chat import Chat
    from .runtime import Runtime

__all__ = ["TITLE_MODEL", "clean_title", "generate_title", "wants_title"]

TITLE_MODEL = "claude-haiku-4-5"  # unless summary_model names another cheap model
_EXCERPT = 2_000  # characters of each message the title is written from
_ASK = (
    "Write a title of at most six words for the conversation below. Answer with the "
    "title only: no quotes, no full stop.\n\n<conversation>\n{body}\n</conversation>"
)


def clean_title(text: str, width: int = 60) -> str:
    """One line, without quotes or a final full stop, at most ``width`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split()).strip("\"'“”«»# ").rstrip(".")
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def wants_title(runtime: Runtime, chat: Chat) -> bool:
    """True when ``auto_title`` is on and the conversation has just had its first turn."""
    return runtime.settings.auto_title and chat.id is not None and len(chat.turns) == 1


def generate_title(runtime: Runtime, chat: Chat) -> str | None:
    """Ask the cheap model for a title, store it and bill the request to the conversation;
    None when there is nothing to name or the answer is empty."""
    from ..models.anthropic import AnthropicModel
    from ..models.base import Request

    if chat.id is None:
        return None
    parts = [
        f"{m.role}: {text_of(m.content)[:_EXCERPT]}" for m in chat.history if text_of(m.content)
    ]
    name = runtime.settings.summary_model or TITLE_MODEL
    request = Request(
        model=name,
        max_tokens=40,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": _ASK.format(body="\n".join(parts))}],
            }
        ],
    )
    response = AnthropicModel(name, client=runtime.client()).create(request)
    chat.bill_side_request(name, response.usage, purpose="title")
    title = clean_title(text_of(response.content))
    if not title:
        return None
    chat.store.update_conversation(chat.id, title=title)
    return title
