"""Checks made before a prompt is stored or sent: everything knowable locally is a
usage error (exit 2), and a large or costly prompt is confirmed first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from ..chat import Chat
    from ..config import Settings

__all__ = ["check_prompt", "decode_input", "prompt_estimate"]

Confirm = Callable[[str], bool]
_COUNT_EXACTLY_UP_TO = 20_000  # characters; a longer prompt gets the fast heuristic


def decode_input(data: bytes, *, where: str = "stdin") -> str:
    """Piped bytes as text: UTF-8 without NUL bytes, else a UserError (binary input)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{where} is not UTF-8 text (byte {err.start:,} cannot be read): binary input "
            "cannot be sent as a prompt"
        ) from None
    if "\x00" in text:
        raise UserError(f"{where} holds NUL bytes: binary input cannot be sent as a prompt")
    return text


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UserError(
            f"the prompt holds text that is not valid Unicode (character {err.start:,}): "
            "check the arguments' encoding"
        ) from None


def prompt_estimate(chat: Chat, text: str) -> tuple[int, float | None]:
    """The prompt's estimated input tokens and their list price in USD (None: unknown)."""
    from ..estimates import heuristic_tokens
    from ..messages import Message
    from ..usage import Usage

    info = chat.info
    if len(text) > _COUNT_EXACTLY_UP_TO:
        tokens = heuristic_tokens(text, info.tokenizer)  # seconds on megabytes, not minutes
    else:
        message = Message("user", [{"type": "text", "text": text}])
        tokens = chat.context.counter.message_tokens(message)
    pricing = info.pricing
    if pricing is None:
        return tokens, None
    return tokens, pricing.cost_usd(Usage(input_tokens=tokens, requests=1))


def _overhead(chat: Chat) -> int:
    """Tokens every request holds besides the turns: frame, system prompt and tools."""
    system = [{"type": "text", "text": chat.system}] if chat.system else []
    return chat.context.counter.overhead_tokens(system, chat.tools.schemas)


def check_prompt(chat: Chat, text: str, *, settings: Settings, confirm: Confirm | None) -> None:
    """Raise UserError for a prompt that cannot be sent as configured; ask (``confirm``)
    before one over the size or cost thresholds (``confirm`` None: send without asking)."""
    from .render import usd

    _check_text(text)
    info = chat.info
    if info.known and chat.max_tokens > info.max_output:
        raise UserError(
            f"--max-tokens {chat.max_tokens:,} is over {info.name}'s output limit of "
            f"{info.max_output:,} tokens"
        )
    room = chat.context.budget_for(info, chat.max_tokens)
    if room <= 0:
        raise UserError(
            f"--max-tokens {chat.max_tokens:,} leaves no room for input in {info.name}'s "
            f"{info.context_window:,}-token window: lower --max-tokens"
        )
    tokens, cost = prompt_estimate(chat, text)
    overhead = _overhead(chat)
    if tokens + overhead > room:
        raise UserError(
            f"the prompt (about {tokens:,} tokens, with {overhead:,} more for the request's "
            f"frame, system prompt and tools) does not fit the budget of {room:,} input tokens "
            "per request: raise --budget or shorten the prompt"
        )
    too_big = tokens > settings.confirm_tokens
    too_dear = cost is not None and cost > settings.confirm_usd
    if confirm is None or not (too_big or too_dear):
        return
    question = (
        f"This prompt is about {tokens:,} tokens ({usd(cost)} of input at list price). Send it?"
    )
    if not confirm(question):
        raise UserError(
            f"not sent: the prompt is about {tokens:,} tokens ({usd(cost)}); confirm it, "
            "or pass --yes (thresholds: confirm_tokens, confirm_usd in claudechat config)"
        )
