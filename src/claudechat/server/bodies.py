"""The request bodies the routes accept (pydantic models: a bad one is a 422 naming the
field). Unknown fields are refused, so a misspelt option is not silently ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from ..messages import content_problem

__all__ = [
    "AttachmentBody",
    "CheckoutBody",
    "ConversationCreate",
    "ConversationPatch",
    "EditBody",
    "ForkBody",
    "LoginBody",
    "RenderBody",
    "RetryBody",
    "SendBody",
]


def _storable(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Content no store could keep or the API would refuse (a lone surrogate, a NUL, bad
    base64) is a 422 naming what and where, before anything is stored or sent."""
    if problem := content_problem(content):
        raise ValueError(problem)
    return content


Content = Annotated[str | list[dict[str, Any]], AfterValidator(_storable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(_Body):
    """``POST /v1/conversations``."""

    title: str | None = Field(default=None, max_length=500)
    model: str | None = Field(default=None, max_length=200)
    system: str | None = None


class ConversationPatch(_Body):
    """``PATCH /v1/conversations/{cid}``: the fields given are changed. ``strategy``,
    ``budget`` and ``recall`` given as null go back to the server's default."""

    title: str | None = Field(default=None, max_length=500)
    model: str | None = Field(default=None, max_length=200)
    system: str | None = None
    strategy: Literal["window", "summary", "compact"] | None = None
    budget: StrictInt | None = Field(default=None, ge=1024, le=10_000_000)
    recall: StrictBool | None = None

    def chat_settings(self) -> dict[str, Any]:
        """The context settings the body names (null ones included), by field."""
        names = ("strategy", "budget", "recall")
        return {name: getattr(self, name) for name in names if name in self.model_fields_set}


class RenderBody(_Body):
    """``POST /v1/render``: text to render as the web chat shows it."""

    text: str = Field(max_length=400_000)


class AttachmentBody(_Body):
    """An image or PDF sent with a message: its name and its bytes as base64 (the media
    type is read from the bytes, uploads.py)."""

    name: str = Field(min_length=1, max_length=255)
    data: str = Field(min_length=1)


MAX_ATTACHMENTS = 20  # attachments one message may carry


class SendBody(_Body):
    """``POST .../messages``: the user's content (text or content blocks) and its
    attachments (images and PDFs, sent before the text)."""

    content: Content
    attachments: list[AttachmentBody] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    stream: StrictBool = True


class RetryBody(_Body):
    """``POST .../retry``."""

    stream: StrictBool = True


class EditBody(_Body):
    """``POST .../messages/{mid}/edit``."""

    content: Content
    stream: StrictBool = True


class CheckoutBody(_Body):
    """``POST .../checkout``: the branch ending at ``message_id``; with ``newest_leaf``,
    the newest branch through it (its last-stored descendant at each step: the branch
    navigator switches to a sibling and everything that follows it)."""

    message_id: str = Field(max_length=200)
    newest_leaf: StrictBool = False


class ForkBody(_Body):
    """``POST .../fork``: from the head, or from ``message_id``."""

    message_id: str | None = Field(default=None, max_length=200)


class LoginBody(_Body):
    """``POST /v1/auth/login``."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
