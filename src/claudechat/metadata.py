"""The metadata keys claudechat writes, in one place.

Messages, conversations and summaries each carry a ``metadata`` dict that is stored with
them; these are the keys claudechat writes there and reads back, in another module or
after a restart. Applications may add keys of their own; these names are taken.
"""

from __future__ import annotations

__all__ = [
    "API_ID",
    "ATTACHMENTS",
    "ATTACHMENT_FILES",
    "CACHE_MISSED_TOKENS",
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
    "SYSTEM_CHANGES",
    "SYSTEM_PREFIX",
    "THREAD",
    "TOOL_CHANGES",
    "TOOL_PREFIX",
    "WINDOW_START",
]

# ---------------------------------------------------------------- message metadata

ATTACHMENTS = "attachments"
"""The attachments of a user message: name, media type, bytes and SHA-256 of each (the
data itself is in the message's content blocks, stored once by the store)."""

ATTACHMENT_FILES = "attachment_files"
"""On a conversation: SHA-256 of an attachment → its Files API file id, once uploaded."""

API_ID = "api_id"
"""The id the API gave the response an assistant message holds."""

CACHE_MISS_REASON = "cache_miss_reason"
"""Why the API did not read the prompt cache for this reply (its diagnostics)."""

CACHE_MISSED_TOKENS = "cache_missed_tokens"
"""The API's estimate of the input tokens a cache miss cost this reply: tokens that would
have been read from the cache had the prefix matched (its diagnostics)."""

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

THREAD = "thread"
"""What the server's message thread holds: the last reply's id, a fingerprint and digest
of the held request, and when it was last used (see ``claudechat.chat.threads``)."""
SYSTEM_PREFIX = "system_prefix"
"""The top-level system prompt sent while later changes go as system messages (the prompt
of the conversation's cached prefix; see `claudechat.chat.system_changes`)."""

SYSTEM_CHANGES = "system_changes"
"""System prompts set mid-conversation: entries of "after" (the head message then) and
"text" (the new prompt), oldest first."""

TOOL_PREFIX = "tool_prefix"
"""The top-level tool definitions sent while later tool changes go as system messages
(see `claudechat.chat.tool_changes`)."""

TOOL_CHANGES = "tool_changes"
"""Tools changed mid-conversation: entries of "after" (the head message then), "removed"
(tool names) and "added" (tool definitions), oldest first."""

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
