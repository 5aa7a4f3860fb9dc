"""How a chat sends changes of its system prompt and tools made mid-conversation: the
part of ``ChatBase`` that applies ``system_changes`` and ``tool_changes`` to a request."""

from __future__ import annotations

from typing import Any

from ..context.engine import ContextEngine, Prepared
from ..messages import Block, Message
from ..metadata import API_ID
from ..models.base import Request
from ..models.capabilities import ModelInfo
from ..store.base import Conversation, Store
from ..tools import ToolRegistry
from .checks import check_system
from .system_changes import (
    Insert,
    SystemPlan,
    insert_system_messages,
    plan_system,
    prompt_inserts,
)
from .tool_changes import ToolPlan, effective_tools, plan_tools, record_tool_change, tool_inserts

__all__ = ["ChangesInConversation", "last_api_id"]


class ChangesInConversation:
    """System prompt and tool changes as system messages, on models that take them."""

    _conv: Conversation | None
    _branch: list[Message]
    _system: list[Block]
    info: ModelInfo
    store: Store
    tools: ToolRegistry
    context: ContextEngine
    _sent_tools: list[dict[str, Any]] | None = None  # the tools this chat's last request had

    @property
    def system(self) -> str:
        """The system prompt text."""
        return "".join(b.get("text", "") for b in self._system)

    def _meta(self) -> dict[str, Any]:
        return self._conv.metadata if self._conv is not None else {}

    def _system_plan(self) -> SystemPlan:
        """How this chat's system prompt travels: top-level, or as system messages."""
        return plan_system(self._meta(), current=self.system, branch=self._branch, info=self.info)

    def _tool_plan(self) -> ToolPlan:
        """How this chat's tools travel: top-level, or the prefix's and changes."""
        current = self.tools.schemas
        return plan_tools(self._meta(), current=current, branch=self._branch, info=self.info)

    def _top_level_system(self) -> list[Block]:
        """The top-level system blocks: the prompt itself, or the prefix prompt."""
        plan = self._system_plan()
        return self._system if plan.top_level == self.system else check_system(plan.top_level)

    def _note_tool_change(self) -> None:
        """Record a change of the tool list since the last request (in the turn's lease,
        before the new user message is stored: the change follows the head)."""
        conv = self._conv
        if conv is None or not self._branch or not self.info.system_messages:
            return
        before = (
            self._sent_tools if self._sent_tools is not None else effective_tools(conv.metadata)
        )
        current = self.tools.schemas
        if before is None or before == current:
            return
        meta = record_tool_change(conv.metadata, before=before, after=current,
                                  head_id=self._branch[-1].id)  # fmt: skip
        self._conv = self.store.update_conversation(conv.id, metadata=meta)

    def _place_changes(self, prepared: Prepared) -> None:
        """The prompt and tool changes as system messages in the request; what has no
        place in it (a change trimmed out of the window) goes top-level instead."""
        request: Request = prepared.request
        sent = prepared.candidate.history
        inserts: list[Insert] = []
        tools = tool_inserts(sent, self._tool_plan())
        if tools is None:
            request.tools = self.tools.schemas
        else:
            inserts.extend(tools[0])
            request.betas = list(dict.fromkeys([*request.betas, *tools[1]]))
        plan = self._system_plan()
        prompts = prompt_inserts(len(request.messages), sent, plan)
        if prompts is None:
            base: int = len(check_system(plan.top_level))
            request.system = [*self._system, *request.system[base:]]
        else:
            inserts.extend(prompts)
        if inserts:
            request.messages = insert_system_messages(request.messages, inserts)
            # Each system message is a part of the request whose count its usage teaches.
            _count_inserts(prepared, self.context, inserts)
        self._sent_tools = self.tools.schemas


def _count_inserts(prepared: Prepared, engine: ContextEngine, inserts: list[Insert]) -> None:
    """The system messages in the request's counts: a part each (whose count the usage
    teaches, not the new user message's), and their tokens in the estimates."""
    counter = engine.counter
    prepared.parts.extend(counter.blocks_key(content) for _, content in inserts)
    extra = sum(counter.blocks_tokens(content) for _, content in inserts)
    prepared.upper_tokens += extra
    prepared.upper_all += extra
    estimate = prepared.estimate
    if estimate is not None:
        prepared.estimate = lambda: estimate() + extra
    prepared._estimated = None  # made again, with them, when next read


def last_api_id(branch: list[Message]) -> str | None:
    """The API id of the newest reply on ``branch`` (what a resumed chat's first request
    names for cache diagnostics), None when there is none."""
    for m in reversed(branch):
        if m.role == "assistant" and isinstance(m.metadata.get(API_ID), str):
            return str(m.metadata[API_ID])
    return None
