"""Context policies: what part of the history goes into each request.

The names here are what an application writes: the engine, the policies, the types a
custom policy works on, and the reports. ``Strategy`` names the built-in strategies
("window", "summary", "compact") that ``strategy_policies`` turns into a policy list.
The helpers the policies share stay in their modules (`claudechat.context.base`, ...).
"""

from .base import Candidate, ContextPolicy, ContextState
from .caching import PromptCaching
from .compaction import ServerCompaction
from .documents import Document, Documents, Retriever
from .engine import ContextEngine, Strategy, strategy_policies
from .recall import Recall
from .report import CostReport, WindowFill, cost_report, store_cost_report
from .summary import RollingSummary
from .tool_results import ClearToolResults
from .window import TokenWindow

__all__ = [
    "Candidate",
    "ClearToolResults",
    "ContextEngine",
    "ContextPolicy",
    "ContextState",
    "CostReport",
    "Document",
    "Documents",
    "PromptCaching",
    "Recall",
    "Retriever",
    "RollingSummary",
    "ServerCompaction",
    "Strategy",
    "TokenWindow",
    "WindowFill",
    "cost_report",
    "store_cost_report",
    "strategy_policies",
]
