"""Context policies: what part of the history goes into each request.

The names here are what an application writes: the engine, the policies, the types a
custom policy works on, and the report of how full the window is. ``Strategy`` names the
built-in strategies ("window", "summary", "compact") that ``strategy_policies`` turns into
a policy list. The engine builds a request from a ``ContextRequest``; the model calls it
needs on the way (a summary, an exact count) come back as ``SideCall``s for the caller to
answer, and what the policies want kept (new summaries, where the window starts) comes
back in ``Prepared.keep`` for the caller to store. The helpers the policies share stay in
their modules (`claudechat.context.base`, ...).
"""

from .base import Candidate, ContextPolicy, ContextRequest, ContextState, Keep, SideCall
from .caching import PromptCaching
from .compaction import ServerCompaction
from .documents import Document, Documents, Retriever
from .engine import ContextEngine, Prepared, Strategy, strategy_policies
from .facts import Fact, extract_facts
from .ledger import FactLedger
from .recall import Recall
from .report import WindowFill
from .summary import RollingSummary
from .tool_results import ClearToolResults
from .window import TokenWindow

__all__ = [
    "Candidate",
    "ClearToolResults",
    "ContextEngine",
    "ContextPolicy",
    "ContextRequest",
    "ContextState",
    "Document",
    "Documents",
    "Fact",
    "FactLedger",
    "Keep",
    "Prepared",
    "PromptCaching",
    "Recall",
    "Retriever",
    "RollingSummary",
    "ServerCompaction",
    "SideCall",
    "Strategy",
    "TokenWindow",
    "WindowFill",
    "extract_facts",
    "strategy_policies",
]
