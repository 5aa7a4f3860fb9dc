"""A conversation's own context settings (strategy, budget, recall), kept in its metadata.

The web chat's settings panel changes them with ``PATCH /v1/conversations/{cid}``. The
service's ``make_chat`` builds the next turn's context engine from them, and the CLI's
``Runtime.resume`` applies them over its configuration file and defaults (a flag or an
environment variable of the command still wins), so a conversation keeps its settings
wherever it goes on. A setting left unset (None) is the default of whoever runs the turn
(``ServerSettings.strategy`` / ``budget`` / ``recall``, or the CLI's configuration; recall
is on by default, the configuration the memory frontier measured best).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .metadata import CHAT_SETTINGS
from .store.base import Conversation

__all__ = ["STRATEGIES", "ChatSettings"]

STRATEGIES = ("window", "summary", "compact")


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """Strategy ("window", "summary", "compact"; None: the server's), budget (input
    tokens a request may hold; None: the server's) and recall (old turns brought back;
    None: the server's)."""

    strategy: str | None = None
    budget: int | None = None
    recall: bool | None = None

    @classmethod
    def of(cls, conversation: Conversation) -> ChatSettings:
        """The settings stored with the conversation (defaults when none are)."""
        raw = conversation.metadata.get(CHAT_SETTINGS)
        if not isinstance(raw, dict):
            return cls()
        strategy = raw.get("strategy")
        budget = raw.get("budget")
        recall = raw.get("recall")
        return cls(
            strategy=strategy if strategy in STRATEGIES else None,
            budget=budget if isinstance(budget, int) and budget > 0 else None,
            recall=recall if isinstance(recall, bool) else None,
        )

    def changed(self, fields: dict[str, Any]) -> ChatSettings:
        """These settings with the given fields replaced (a None one goes back to the
        server's default)."""
        known = {k: v for k, v in fields.items() if k in ("strategy", "budget", "recall")}
        return replace(self, **known)

    def metadata(self, conversation: Conversation) -> dict[str, Any]:
        """The conversation's metadata with these settings in it."""
        return {**conversation.metadata, CHAT_SETTINGS: self.to_json()}

    def to_json(self) -> dict[str, Any]:
        """``{"strategy", "budget", "recall"}`` as the API shows them."""
        return {"strategy": self.strategy, "budget": self.budget, "recall": self.recall}
