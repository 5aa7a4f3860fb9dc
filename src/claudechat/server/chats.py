"""An ``AsyncChat`` over the user's store view, configured as the CLI configures one:
the conversation's model (the server's default for a new one), max_tokens capped by the
model's output limit, and the conversation's own context settings (strategy, budget,
recall), the configured ones where it has none. Recall is on unless configured off
(``CLAUDECHAT_RECALL=off``) or turned off for the conversation."""

from __future__ import annotations

import logging
import warnings

from ..chat import AsyncChat
from ..chat_settings import ChatSettings
from ..context import ContextEngine, PromptCaching, strategy_policies
from ..context.base import ContextPolicy
from ..context.recall import remember_policies
from ..models.capabilities import DeprecatedModelWarning, UnknownModelWarning, model_info
from ..search import SearchIndex
from ..store.base import Store
from ..tokens import TokenAccountant
from .errors import ApiError
from .settings import ServerSettings
from .state import ServerState
from .turn_index import turn_index

__all__ = ["check_model", "make_chat", "warm_up"]

log = logging.getLogger("claudechat.server")


def engine(
    settings: ServerSettings,
    own: ChatSettings | None = None,
    counter: TokenAccountant | None = None,
    index: SearchIndex | None = None,
) -> ContextEngine:
    """A context engine for the conversation's strategy, budget and recall (``own``), the
    configured ones where it sets none (one per chat: it keeps the last request's figures),
    counting with ``counter`` (the conversation's, kept between its turns: see counters.py).
    With recall, the window leaves it the share of the budget the memory frontier measured
    best (`remember_policies`); it searches this conversation's turns only, in ``index``
    (the store's: see turn_index.py; None: one in memory, built for the chat)."""
    own = own or ChatSettings()
    strategy = own.strategy or settings.strategy
    budget = own.budget if own.budget is not None else settings.budget
    recall = own.recall if own.recall is not None else settings.recall
    policies: list[ContextPolicy]
    if recall:
        from ..search import MemoryIndex

        found = index if index is not None else MemoryIndex()  # an empty index is falsy
        policies = remember_policies(strategy, found, budget=budget)
    else:
        policies = list(strategy_policies(strategy))
    return ContextEngine(
        policies,
        budget=budget,
        caching=PromptCaching(ttl="5m", system_ttl="5m"),
        counter=counter,
        summary_model="claude-haiku-4-5",
        offload=True,  # its steps off the event loop: its index works from any thread
    )


def make_chat(
    state: ServerState,
    store: Store,
    conversation_id: str,
    *,
    counter: TokenAccountant | None = None,
) -> AsyncChat:
    """The stored conversation as an AsyncChat on ``store`` (the user's view; 404 for an
    id that is not theirs), counting tokens with ``counter`` (a new accountant if None)."""
    conv = store.get_conversation(conversation_id)
    settings = state.settings
    model = conv.model or settings.model
    max_tokens = min(settings.max_tokens, model_info(model, warn=False).max_output)
    with warnings.catch_warnings():  # a deprecated model is the user's choice, not an error
        warnings.simplefilter("ignore", DeprecatedModelWarning)
        warnings.simplefilter("ignore", UnknownModelWarning)
        chat = AsyncChat.resume(
            conv.id,
            store=store,
            model=model,
            max_tokens=max_tokens,
            context=engine(settings, ChatSettings.of(conv), counter, turn_index(store)),
            client=state.client_for(conv.id),
            memory=settings.memory,  # on the user's scoped store: the user's trees only
            thinking=settings.thinking,
        )
    chat.watch_stops = False  # the worker reads every stop of its turns at once (runs.py)
    return chat


def warm_up(settings: ServerSettings) -> None:
    """Load now what a worker's first turn would load, by one turn on the built-in emulator
    in memory (nothing is stored, nothing is sent): the default model's tokenizer for the
    offline counts (ctok's tables: some 70,000 dicts, 67 MB), the pydantic schemas the SDK
    builds for a request and a reply's events (some 10,000 dicts), the context policies.
    Loaded before ``claudechat serve`` freezes start-up, they stay out of every full
    collection, which they made last about 80 ms longer (10 ms for the schemas alone),
    holding every stream of the worker; and the first user's turn no longer waits for them.
    A conversation on a model of another family loads its tokenizer at its first turn. A
    warm-up that fails is logged, and the worker starts all the same."""
    from ..chat import Chat
    from ..store.memory import MemoryStore
    from ..testing import offline_client

    try:
        with warnings.catch_warnings():  # a deprecated default model is warned of elsewhere
            warnings.simplefilter("ignore", DeprecatedModelWarning)
            warnings.simplefilter("ignore", UnknownModelWarning)
            chat = Chat(settings.model, client=offline_client(), store=MemoryStore(),
                        context=engine(settings), max_tokens=256)  # fmt: skip
            for _ in chat.stream("warm up"):
                pass
    except Exception as err:  # its first turn loads what it needs, as before
        log.warning("the warm-up turn failed (%s: %s); the first turn loads what it needs",
                    type(err).__name__, err)  # fmt: skip


def check_model(name: str) -> str:
    """A model name the service accepts (an alias such as "sonnet" resolved): one with a
    capability entry, not retired; a near miss of a known name is answered "did you mean"."""
    from datetime import UTC, datetime

    from ..models.aliases import resolve_alias, suggest

    name = resolve_alias(name)
    info = model_info(name, warn=False)
    if not info.known:
        guess = suggest(name)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise ApiError(
            400, f"unknown model {name!r}{hint} (GET /v1/models lists the models offered)"
        )
    if info.retires is not None and datetime.now(UTC).date() >= info.retires:
        instead = f"; use {info.replacement}" if info.replacement else ""
        raise ApiError(400, f"model {name!r} was retired on {info.retires.isoformat()}{instead}")
    return name
