"""Context policies: what part of the history goes into each request."""

from .base import (
    Candidate,
    ContextPolicy,
    ContextRequest,
    ContextState,
    Keep,
    SideCall,
    TokenCounter,
    candidate_tokens,
    fixed_tokens,
    run_pipeline,
    summary_block,
)
from .caching import Layout, PromptCaching
from .compaction import ServerCompaction
from .documents import Document, Documents, Retriever, describe_documents, document_blocks
from .engine import ContextEngine, Prepared, Strategy, strategy_policies
from .recall import Recall
from .report import WindowFill
from .summary import RollingSummary, make_summarizer, render_transcript
from .tool_results import ClearToolResults
from .window import TokenWindow, truncate_turn, turn_starts

__all__ = [
    "Candidate",
    "ClearToolResults",
    "ContextEngine",
    "ContextPolicy",
    "ContextRequest",
    "ContextState",
    "Document",
    "Documents",
    "Keep",
    "Layout",
    "Prepared",
    "PromptCaching",
    "Recall",
    "Retriever",
    "RollingSummary",
    "ServerCompaction",
    "SideCall",
    "Strategy",
    "TokenCounter",
    "TokenWindow",
    "WindowFill",
    "candidate_tokens",
    "describe_documents",
    "document_blocks",
    "fixed_tokens",
    "make_summarizer",
    "render_transcript",
    "run_pipeline",
    "strategy_policies",
    "summary_block",
    "truncate_turn",
    "turn_starts",
]
