"""claudechat: long, multi-turn conversations with Claude.

The Messages API is stateless; claudechat keeps the conversation: it stores every turn,
fits each request into the context window at the lowest cost, and accounts for every
token and dollar.

    from claudechat import Chat
    chat = Chat(model="claude-sonnet-4-6", system="Be concise.")
    print(chat.send("Hi").text)

``DEFAULT_MODEL`` is the model a ``Chat`` uses when none is given.
"""

from .attachments import Attachment, AttachmentLimits
from .chat import DEFAULT_MODEL, AsyncChat, Chat, Reply, ThinkingDeprecationWarning
from .context import (
    ClearToolResults,
    ContextEngine,
    Documents,
    PromptCaching,
    Recall,
    RollingSummary,
    ServerCompaction,
    TokenWindow,
    strategy_policies,
)
from .errors import (
    AttachmentRejected,
    AuthError,
    BadResponse,
    ClaudeChatError,
    ConcurrentUpdate,
    ConfigError,
    ContextOverflow,
    ConversationNotFound,
    InvalidHistory,
    InvalidImport,
    MemoryConflict,
    ModelError,
    Overloaded,
    RateLimited,
    RetiredModel,
    StoreError,
    StreamInterrupted,
    ToolDefinitionError,
    ToolRefused,
    UnknownModel,
    UserError,
)
from .memorytool import AsyncMemoryTool, MemoryTool
from .messages import Message, Turn, group_turns, repair, validate
from .models import Model, ModelInfo, model_info
from .tools import Tool, tool_schema
from .usage import Ledger, Usage

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "AsyncChat",
    "AsyncMemoryTool",
    "Attachment",
    "AttachmentLimits",
    "AttachmentRejected",
    "AuthError",
    "BadResponse",
    "Chat",
    "ClaudeChatError",
    "ClearToolResults",
    "ConcurrentUpdate",
    "ConfigError",
    "ContextEngine",
    "ContextOverflow",
    "ConversationNotFound",
    "Documents",
    "InvalidHistory",
    "InvalidImport",
    "Ledger",
    "MemoryConflict",
    "MemoryTool",
    "Message",
    "Model",
    "ModelError",
    "ModelInfo",
    "Overloaded",
    "PromptCaching",
    "RateLimited",
    "Recall",
    "Reply",
    "RetiredModel",
    "RollingSummary",
    "ServerCompaction",
    "StoreError",
    "StreamInterrupted",
    "ThinkingDeprecationWarning",
    "TokenWindow",
    "Tool",
    "ToolDefinitionError",
    "ToolRefused",
    "Turn",
    "UnknownModel",
    "Usage",
    "UserError",
    "group_turns",
    "model_info",
    "repair",
    "strategy_policies",
    "tool_schema",
    "validate",
]
