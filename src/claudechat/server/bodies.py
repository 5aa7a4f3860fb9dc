"""The request bodies the routes accept (pydantic models: a bad one is a 422 naming the
field). Unknown fields are refused, so a misspelt option is not silently ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CheckoutBody",
    "ConversationCreate",
    "ConversationPatch",
    "EditBody",
    "ForkBody",
    "LoginBody",
    "RetryBody",
    "SendBody",
]

Content = str | list[dict[str, Any]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(_Body):
    """``POST /v1/conversations``."""

    title: str | None = Field(default=None, max_length=500)
    model: str | None = Field(default=None, max_length=200)
    system: str | None = None


class ConversationPatch(_Body):
    """``PATCH /v1/conversations/{cid}``: the fields given are changed."""

    title: str | None = Field(default=None, max_length=500)
    model: str | None = Field(default=None, max_length=200)
    system: str | None = None


class SendBody(_Body):
    """``POST .../messages``: the user's content (text or content blocks)."""

    content: Content
    stream: bool = True


class RetryBody(_Body):
    """``POST .../retry``."""

    stream: bool = True


class EditBody(_Body):
    """``POST .../messages/{mid}/edit``."""

    content: Content
    stream: bool = True


class CheckoutBody(_Body):
    """``POST .../checkout``."""

    message_id: str = Field(max_length=200)


class ForkBody(_Body):
    """``POST .../fork``: from the head, or from ``message_id``."""

    message_id: str | None = Field(default=None, max_length=200)


class LoginBody(_Body):
    """``POST /v1/auth/login``."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
