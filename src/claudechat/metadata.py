"""The metadata keys claudechat writes, in one place.

Messages, conversations and summaries each carry a ``metadata`` dict that is stored with
them; these are the keys claudechat writes there and reads back, in another module or
after a restart. Applications may add keys of their own; these names are taken.
"""

from __future__ import annotations

__all__ = [
    "API_ID",
    "CACHE_MISS_REASON",
    "CHAT_SETTINGS",
    "CONTEXT_MANAGEMENT",
    "COPIED_FROM",
    "COPIED_FROM_CONVERSATION",
    "DOCUMENTS",
    "DROPPED_BLOCKS",
    "FACTS_FOLDED",
    "FACTS_LOST",
    "FORKED_FROM",
    "IMPORTED_FROM",
    "INTERRUPTED",
    "IN_FLIGHT",
    "MESSAGES_FOLDED",
    "PURPOSE",
    "REFITTED",
    "SIDE_USAGE",
    "WINDOW_START",
]

# ---------------------------------------------------------------- message metadata

API_ID = "api_id"
"""The id the API gave the response an assistant message holds."""

CACHE_MISS_REASON = "cache_miss_reason"
"""Why the API did not read the prompt cache for this reply (its diagnostics)."""

CONTEXT_MANAGEMENT = "context_management"
"""What server-side context management did for this reply (the API's report)."""

DROPPED_BLOCKS = "dropped_blocks"
"""Blocks of the response left out of the stored message (a tool call cut mid-way)."""

DOCUMENTS = "documents"
"""What documents were sent with a user message: title, source, id and size, no text."""

IN_FLIGHT = "in_flight"
"""A reply stored while it is still streaming (a checkpoint; its status is partial)."""

INTERRUPTED = "interrupted"
"""Why a partial reply stopped: "interrupted" by the user, or the error."""

SIDE_USAGE = "side_usage"
"""Other requests billed with this reply (summaries): entries of purpose, model, usage."""

PURPOSE = "purpose"
"""What a billed request was for ("reply" when absent); also a key of each side entry."""

COPIED_FROM = "copied_from"
"""On a copy (fork, import) of a billed message or summary: the id of the original, whose
spend the copy shows but totals count only once."""

# ---------------------------------------------------------------- conversation metadata

FORKED_FROM = "forked_from"
"""The conversation a fork was copied from."""

IMPORTED_FROM = "imported_from"
"""The id an imported conversation had where it was exported."""

CHAT_SETTINGS = "chat_settings"
"""The conversation's own context settings (the web chat's): strategy, budget, recall."""

WINDOW_START = "window_start"
"""The message a trimmed window starts at, kept so the next turn's window agrees."""

# ---------------------------------------------------------------- summary metadata

COPIED_FROM_CONVERSATION = "copied_from_conversation"
"""On a copied summary: the conversation it was made in."""

MESSAGES_FOLDED = "messages_folded"
"""How many messages a rolling summary folded in when it was made."""

REFITTED = "refitted"
"""A stored summary shortened to fit a smaller budget."""

FACTS_FOLDED = "facts_folded"
"""How many facts (see `claudechat.context.facts`) the turns a summary folded in held."""

FACTS_LOST = "facts_lost"
"""The facts of the folded turns that the summary did not keep (kind, value, message id):
they live on only in the fact ledger, which sends them when they bear on a question."""
